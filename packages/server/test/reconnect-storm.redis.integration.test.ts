// The reconnect storm of a deploy (docs/deploys.md): ~1,200 clients on node A (a child process) over 20 channels
// with a live stream published on node B; A shuts down gracefully (1001 with a reconnect advice per client) or is
// SIGKILLed (no advice: the clients' own jitter); every client reconnects to B or C (in this process, same Redis) and
// resumes from its position. Asserts 0 lost, 0 duplicated and every client recovered; prints the time to 99 % and
// 100 % recovered, the history reads issued vs merged and the peak recovery queue depth.
import { randomBytes } from 'node:crypto';
import { deleteRedisKeys, requireService } from '@unisocket/services';
import WebSocket from 'ws';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ChildServer } from './child';
import { type TestServer, startServer } from './helpers';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = await requireService('redis');

const CLIENTS = 1_200;
const CHANNELS = 20;
const SPREAD_MS = 1_500;
/** The jitter window of a client that lost its node without advice (the client's `reconnect.initialDelayMs`). */
const JITTER_MS = 500;

const prefixes: string[] = [];
const servers: TestServer[] = [];
const children: ChildServer[] = [];
const clients: StormClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.stop();
  await Promise.all(children.splice(0).map((c) => c.stop()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await deleteRedisKeys(prefixes.splice(0), { url: REDIS_URL });
});

/**
 * A raw protocol client (cheap enough for a thousand in one process) that behaves like `@unisocket/client`: it
 * honours the reconnect advice of a 1001, else waits a random delay within its jitter window, moves on to the next
 * node of its list, and resubscribes from the last offset it saw. It counts duplicates and gaps by offset (Redis
 * offsets of a channel are contiguous).
 */
class StormClient {
  ws: WebSocket | undefined;
  epoch = '';
  offset = -1;
  duplicates = 0;
  gaps = 0;
  recovered = 0;
  notRecovered = 0;
  /** When the client got its `recovered: true` ack after the loss (epoch ms). */
  recoveredAt: number | undefined;
  advised: number | undefined;
  attempts = 0;
  #stopped = false;
  #targets: string[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly channel: string) {}

  /** Connects to `url` and subscribes; resolves once acknowledged. */
  open(url: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#connect(url, resolve, reject);
    });
  }

  /** Where to go after the connection is lost (rotating). */
  failover(targets: string[]): void {
    this.#targets = targets;
  }

  #connect(url: string, acked?: () => void, failed?: (e: Error) => void): void {
    if (this.#stopped) return;
    this.attempts++;
    const ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws = ws;
    const resuming = this.offset >= 0;
    ws.on('open', () => {
      const cmd: Record<string, unknown> = { type: 'subscribe', channel: this.channel, ref: 1 };
      if (resuming) cmd.since = { epoch: this.epoch, offset: this.offset };
      ws.send(JSON.stringify(cmd));
    });
    ws.on('message', (data: Buffer) => {
      for (const line of data.toString().split('\n')) {
        const frame = JSON.parse(line) as Record<string, unknown>;
        if (frame.type === 'message') {
          const offset = frame.offset as number;
          if (offset <= this.offset) this.duplicates++;
          else if (offset !== this.offset + 1) this.gaps++;
          if (offset > this.offset) this.offset = offset;
        } else if (frame.type === 'ack' && frame.ref === 1) {
          if (!resuming) {
            this.epoch = frame.epoch as string;
            this.offset = frame.offset as number;
          } else if (frame.recovered === true) {
            this.recovered++;
            this.recoveredAt = Date.now();
          } else {
            this.notRecovered++;
          }
          acked?.();
        } else if (frame.type === 'error' && frame.ref === 1) {
          failed?.(new Error(`subscribe refused: ${line}`));
          ws.close();
        }
      }
    });
    ws.on('error', (error) => failed?.(error));
    ws.on('close', (code, reason) => {
      if (this.ws !== ws || this.#stopped || this.#targets.length === 0) return;
      if (this.attempts > 30) return;
      const advice = code === 1001 ? /retry-after-ms=(\d+)/.exec(reason.toString()) : null;
      this.advised = advice === null ? undefined : Number(advice[1]);
      const delay = this.advised ?? Math.floor(Math.random() * JITTER_MS);
      const next = this.#targets[this.attempts % this.#targets.length]!;
      this.#timer = setTimeout(() => this.#connect(next), delay);
    });
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.ws?.terminate();
  }
}

/** Runs `fn` over `items` with at most `n` at once. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function until(test: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function storm(kind: 'shutdown' | 'SIGKILL'): Promise<void> {
  const keyPrefix = `test:storm:${randomBytes(4).toString('hex')}:`;
  prefixes.push(keyPrefix);
  const broker = { type: 'redis' as const, url: REDIS_URL, keyPrefix };
  const limits = { maxConnections: 5_000, maxConnectionsPerIp: 5_000 };
  const a = await ChildServer.start({
    broker,
    nodeId: 'storm-a',
    limits,
    history: { size: 10_000 },
    reconnectSpreadMs: SPREAD_MS,
  });
  children.push(a);
  // a tiny budget on the surviving nodes (the default is 128), so the storm queues and the queue is seen working
  const recovery = { maxConcurrent: 4 };
  const b = await startServer({ broker, nodeId: 'storm-b', limits, history: { size: 10_000 }, recovery });
  servers.push(b);
  const c = await startServer({ broker, nodeId: 'storm-c', limits, history: { size: 10_000 }, recovery });
  servers.push(c);
  const channels = Array.from({ length: CHANNELS }, (_, i) => `storm.${i}`);

  // the live stream: published on B, 5 messages per channel per second, through the whole storm
  let publishing = true;
  let published = 0;
  const publisher = (async () => {
    while (publishing) {
      await Promise.all(channels.map((ch) => b.service.broadcast(ch, 'tick', { n: published })));
      published += channels.length;
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  const all = Array.from({ length: CLIENTS }, (_, i) => new StormClient(channels[i % CHANNELS]!));
  clients.push(...all);
  await pool(all, 50, (client) => client.open(a.url));
  for (const [i, client] of all.entries()) client.failover(i % 2 === 0 ? [b.url, c.url] : [c.url, b.url]);
  // let the stream run on A's clients for a moment
  await until(
    () => all.every((cl) => cl.offset > 0),
    10_000,
    () => 'every client to receive a live message',
  );

  const t0 = Date.now();
  if (kind === 'shutdown') await a.call('exit');
  else process.kill(a.pid, 'SIGKILL');

  await until(
    () => all.every((cl) => cl.recovered + cl.notRecovered > 0),
    30_000,
    () => `every client to resubscribe (${all.filter((cl) => cl.recovered + cl.notRecovered > 0).length}/${CLIENTS})`,
  );
  const recoveredAfter = all.map((cl) => (cl.recoveredAt ?? Number.POSITIVE_INFINITY) - t0).sort((x, y) => x - y);
  // the stream goes on a little past the storm, then stops; every client must then hold every message
  await new Promise((r) => setTimeout(r, 500));
  publishing = false;
  await publisher;
  const tops = new Map<string, number>();
  for (const ch of channels) tops.set(ch, (await b.service.hub!.broker.history.position(ch)).offset);
  await until(
    () => all.every((cl) => cl.offset === tops.get(cl.channel)),
    15_000,
    () => `every client to catch up (${all.filter((cl) => cl.offset === tops.get(cl.channel)).length}/${CLIENTS})`,
  );

  const statsB = b.service.hub!.recoveryStats();
  const statsC = c.service.hub!.recoveryStats();
  const requests = statsB.requests + statsC.requests;
  const reads = statsB.reads + statsC.reads;
  const merged = statsB.readsMerged + statsC.readsMerged;
  const advised = all.filter((cl) => cl.advised !== undefined).length;
  console.log(
    `[storm ${kind}] ${CLIENTS} clients, ${CHANNELS} channels, ${published} messages published: ` +
      `99% recovered after ${percentile(recoveredAfter, 99)} ms, 100% after ${recoveredAfter.at(-1)} ms ` +
      `(advised: ${advised}); history reads: ${requests} asked, ${reads} issued, ${merged} merged; ` +
      `peak recovery queue: B ${statsB.queuedPeak}, C ${statsC.queuedPeak}; refused: ${statsB.refused + statsC.refused}`,
  );

  expect(all.reduce((n, cl) => n + cl.gaps, 0)).toBe(0);
  expect(all.reduce((n, cl) => n + cl.duplicates, 0)).toBe(0);
  expect(all.reduce((n, cl) => n + cl.notRecovered, 0)).toBe(0);
  expect(all.every((cl) => cl.recovered === 1)).toBe(true);
  expect(reads + merged).toBe(requests);
  expect(merged).toBeGreaterThan(0);
  expect(statsB.refused + statsC.refused).toBe(0);
  expect(statsB.active + statsB.queued + statsC.active + statsC.queued).toBe(0);
  if (kind === 'shutdown') {
    // every client was told when to come back, and they came back spread over the window
    expect(advised).toBe(CLIENTS);
    expect(Math.max(...all.map((cl) => cl.advised!))).toBeLessThanOrEqual(SPREAD_MS);
  } else {
    expect(advised).toBe(0);
  }
}

describe.skipIf(!redis)(
  'reconnect storm on Redis (a node shuts down or dies; its clients recover on the others)',
  () => {
    it(
      `graceful shutdown: ${CLIENTS} clients recover on B and C, 0 lost, 0 duplicated`,
      () => storm('shutdown'),
      60_000,
    );
    it(`SIGKILL: ${CLIENTS} clients recover on B and C, 0 lost, 0 duplicated`, () => storm('SIGKILL'), 60_000);
  },
);
