import { randomBytes } from 'node:crypto';
import {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  createServer,
} from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { BreakerRegistry, type JobQueue, createJobQueue } from '@unisocket/queue';
import Pusher from 'pusher';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type LifecycleEvent,
  type WebhookBody,
  WebhookDispatcher,
  type WebhookDispatcherEvents,
  type WebhookEndpointOptions,
  type WebhookSigningApp,
  type WebhooksOption,
  resolveWebhooks,
  verifyWebhook,
} from '../src/webhooks';
import { sleep, waitFor } from './helpers';

/** A queue and the breaker registry it and the dispatcher share. */
interface QueueKit {
  queue: JobQueue;
  breakers: BreakerRegistry;
}

/** A memory queue, or a BullMQ queue on `prefix`, named `webhooks` as the service names it. */
function makeQueueKit(kind: 'memory' | 'bullmq', redisUrl: string, prefix?: string): QueueKit {
  const breakers = new BreakerRegistry();
  const queue = createJobQueue({
    name: 'webhooks',
    concurrency: 16,
    ...(kind === 'bullmq' ? { redis: { url: redisUrl }, prefix: prefix!, breakers } : {}),
  });
  return { queue, breakers };
}

/** Runs one Lua script on Redis over a raw socket (RESP), answering its integer reply. */
function redisEval(redisUrl: string, script: string, arg: string): Promise<number> {
  const url = new URL(redisUrl);
  const parts = ['EVAL', script, '0', arg];
  const command = `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ port: Number(url.port || 6379), host: url.hostname });
    let reply = '';
    socket.setTimeout(5_000, () => socket.destroy(new Error('Redis did not answer in 5 s')));
    socket.on('error', reject);
    socket.on('connect', () => socket.write(command));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (!reply.endsWith('\r\n')) return;
      socket.end();
      if (reply.startsWith(':')) resolve(Number(reply.slice(1, -2)));
      else reject(new Error(`Redis answered ${reply.trim()}`));
    });
  });
}

/** Deletes every key under a BullMQ prefix and checks none is left. */
async function removeRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const pattern = `${prefix}:*`;
  await redisEval(
    redisUrl,
    "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) n = n + 1 end return n",
    pattern,
  );
  expect(await redisEval(redisUrl, "return #redis.call('KEYS', ARGV[1])", pattern)).toBe(0);
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisAvailable = await new Promise<boolean>((resolve) => {
  const url = new URL(REDIS_URL);
  const socket = connect({ port: Number(url.port || 6379), host: url.hostname });
  const done = (ok: boolean): void => {
    socket.destroy();
    resolve(ok);
  };
  socket.setTimeout(1000, () => done(false));
  socket.on('error', () => done(false));
  socket.on('connect', () => socket.write('PING\r\n'));
  socket.on('data', (d) => done(d.toString().startsWith('+PONG')));
});
if (!redisAvailable) {
  if (process.env.CI === 'true') throw new Error(`Redis is not reachable at ${REDIS_URL}; CI needs it`);
  console.warn(`⚠ SKIPPING the BullMQ webhook suites: Redis is not reachable at ${REDIS_URL}`);
}

const APPS: WebhookSigningApp[] = [
  { id: '1', key: 'key-one', secret: 'secret-of-app-one-0123456789abcd' },
  { id: '2', key: 'key-two', secret: 'secret-of-app-two-0123456789abcd' },
];
const FIRST = APPS[0]!;

// ---------------------------------------------------------------------------------------------- a real HTTP receiver

/** How the receiver answers its n-th request (1-based). */
type Answer = 'ok' | 'silent' | 'garbage' | 'reset' | number;

interface ReceivedRequest {
  n: number;
  at: number;
  headers: IncomingHttpHeaders;
  rawHeaderNames: string[];
  rawBody: string;
  answer: Answer;
}

/** An HTTP receiver on 127.0.0.1 (an ephemeral port) that records every request and answers as told. */
class Receiver {
  readonly requests: ReceivedRequest[] = [];
  answers: (n: number) => Answer = () => 'ok';
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(answers?: Answer[] | ((n: number) => Answer)): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = createServer((req, res) => receiver!.onRequest(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new Receiver(server, `http://127.0.0.1:${port}/pusher/webhook`);
    if (Array.isArray(answers)) receiver.answers = (n) => answers[n - 1] ?? 'ok';
    else if (answers !== undefined) receiver.answers = answers;
    receivers.push(receiver);
    return receiver;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = this.requests.length + 1;
      const answer = this.answers(n);
      const rawHeaderNames = req.rawHeaders.filter((_, i) => i % 2 === 0);
      this.requests.push({
        n,
        at: performance.now(),
        headers: req.headers,
        rawHeaderNames,
        rawBody: Buffer.concat(chunks).toString('utf8'),
        answer,
      });
      if (answer === 'ok') res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      else if (typeof answer === 'number') res.writeHead(answer).end('no');
      else if (answer === 'garbage') req.socket.end('THIS IS NOT HTTP\r\n\r\n\u0000\u0001');
      else if (answer === 'reset') req.socket.resetAndDestroy();
      // 'silent': never answers
    });
  }

  /** The bodies of the requests answered 2xx. */
  delivered(): WebhookBody[] {
    return this.requests.filter((r) => r.answer === 'ok').map((r) => JSON.parse(r.rawBody) as WebhookBody);
  }

  /** Every event delivered (2xx), in arrival order. */
  events(): LifecycleEvent[] {
    return this.delivered().flatMap((b) => b.events);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Polls an async condition every 20 ms. */
async function waitUntil(predicate: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A URL where nothing listens (a port just closed). */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/hook`;
}

// --------------------------------------------------------------------------------------------------- the harness

const receivers: Receiver[] = [];
const kits: QueueKit[] = [];
const dispatchers: WebhookDispatcher[] = [];
const prefixes: string[] = [];

afterEach(async () => {
  await Promise.allSettled(dispatchers.splice(0).map((d) => d.close(1_000)));
  await Promise.allSettled(kits.splice(0).map((k) => k.queue.close(1_000)));
  await Promise.allSettled(receivers.splice(0).map((r) => r.close()));
  for (const prefix of prefixes.splice(0)) await removeRedisKeys(REDIS_URL, prefix);
});

interface Started {
  kit: QueueKit;
  dispatcher: WebhookDispatcher;
  /** Every event the dispatcher emitted, in order. */
  log: { type: keyof WebhookDispatcherEvents; at: number; payload: Record<string, unknown> }[];
}

/** A queue (memory or BullMQ on its own prefix), a breaker registry and a started dispatcher for `webhooks`. */
async function startDispatcher(
  kind: 'memory' | 'bullmq',
  webhooks: WebhooksOption,
  options: { prefix?: string; apps?: WebhookSigningApp[] } = {},
): Promise<Started> {
  let prefix = options.prefix;
  if (kind === 'bullmq' && prefix === undefined) {
    prefix = `test:webhooks:${randomBytes(4).toString('hex')}`;
    prefixes.push(prefix);
  }
  const kit = makeQueueKit(kind, REDIS_URL, prefix);
  kits.push(kit);
  const dispatcher = new WebhookDispatcher({
    endpoints: resolveWebhooks(webhooks, options.apps ?? APPS),
    queue: kit.queue,
    breakers: kit.breakers,
  });
  dispatchers.push(dispatcher);
  const log: Started['log'] = [];
  const record =
    (type: keyof WebhookDispatcherEvents) =>
    (payload: object): void => {
      log.push({ type, at: performance.now(), payload: payload as Record<string, unknown> });
    };
  dispatcher.on('webhook-delivered', record('webhook-delivered'));
  dispatcher.on('webhook-failed', record('webhook-failed'));
  dispatcher.on('webhook-dropped', record('webhook-dropped'));
  dispatcher.start();
  await kit.queue.start();
  return { kit, dispatcher, log };
}

/** An endpoint for `receiver` with short timings for tests. */
function endpoint(url: string, extra: Partial<WebhookEndpointOptions> = {}): WebhookEndpointOptions {
  return { url, batchMs: 20, timeoutMs: 1_000, retryForMs: 10_000, backoff: { type: 'fixed', delayMs: 50 }, ...extra };
}

const occupied = (channel: string): LifecycleEvent => ({ name: 'channel_occupied', channel });

// ------------------------------------------------------------------------------------------------------- the suites

const KINDS = ['memory', 'bullmq'] as const;

for (const kind of KINDS) {
  describe.skipIf(kind === 'bullmq' && !redisAvailable)(`webhooks on the ${kind} queue`, { timeout: 30_000 }, () => {
    it('the pusher SDK validates the signature; the body is the Pusher body; the raw bytes are what was signed', async () => {
      const receiver = await Receiver.start();
      const { dispatcher } = await startDispatcher(kind, [endpoint(receiver.url)]);
      dispatcher.push({ name: 'member_added', channel: 'presence-lobby', user_id: 'u1' });
      dispatcher.push(occupied('prices.é✓'));
      await waitFor(() => receiver.requests.length === 1, 5_000, 'the webhook');
      const request = receiver.requests[0]!;
      const pusher = new Pusher({ appId: FIRST.id, key: FIRST.key, secret: FIRST.secret, cluster: 'mt1' });
      const webhook = pusher.webhook({ headers: request.headers, rawBody: request.rawBody });
      expect(webhook.isValid()).toBe(true);
      expect(webhook.getEvents()).toEqual([
        { name: 'member_added', channel: 'presence-lobby', user_id: 'u1' },
        { name: 'channel_occupied', channel: 'prices.é✓' },
      ]);
      expect(Math.abs(webhook.getTime().getTime() - Date.now())).toBeLessThan(5_000);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['x-pusher-key']).toBe(FIRST.key);
      // spelt as Pusher sends them (receivers that look headers up by exact name, like pusher-php-server's, find them)
      expect(request.rawHeaderNames).toEqual(
        expect.arrayContaining(['Content-Type', 'X-Pusher-Key', 'X-Pusher-Signature']),
      );
      expect(verifyWebhook({ headers: request.headers, rawBody: request.rawBody }, FIRST)).toBe(true);
      // another secret, or another key, is refused by the SDK
      const wrong = new Pusher({ appId: '1', key: FIRST.key, secret: 'another-secret-0123456789', cluster: 'mt1' });
      expect(wrong.webhook({ headers: request.headers, rawBody: request.rawBody }).isValid()).toBe(false);
      const otherKey = new Pusher({ appId: '1', key: 'other', secret: FIRST.secret, cluster: 'mt1' });
      expect(otherKey.webhook({ headers: request.headers, rawBody: request.rawBody }).isValid()).toBe(false);
      expect(verifyWebhook({ headers: request.headers, rawBody: `${request.rawBody} ` }, FIRST)).toBe(false);
      await waitFor(() => dispatcher.stats().delivered === 1, 5_000, 'the delivery');
      expect(dispatcher.stats()).toMatchObject({
        delivered: 1,
        deliveredEvents: 2,
        failed: 0,
        failedAttempts: 0,
        dropped: 0,
        pendingEvents: 0,
      });
    });

    it('batches: events within batchMs share one body; maxBatch splits a burst (120 → 50 + 50 + 20)', async () => {
      const receiver = await Receiver.start();
      const { dispatcher } = await startDispatcher(kind, [endpoint(receiver.url, { batchMs: 200, maxBatch: 50 })]);
      for (let i = 0; i < 10; i++) {
        dispatcher.push(occupied(`a.${i}`));
        await sleep(5);
      }
      await waitFor(() => receiver.requests.length === 1, 5_000, 'one batch');
      expect(receiver.delivered()[0]!.events.map((e) => (e as { channel: string }).channel)).toEqual(
        Array.from({ length: 10 }, (_, i) => `a.${i}`),
      );
      for (let i = 0; i < 120; i++) dispatcher.push(occupied(`b.${i}`));
      // the two full batches leave at once, the rest after batchMs
      expect(dispatcher.stats().pendingEvents).toBe(20);
      await waitFor(() => receiver.requests.length === 4, 5_000, 'three more batches');
      const sizes = receiver
        .delivered()
        .slice(1)
        .map((b) => b.events.length)
        .sort((x, y) => y - x);
      expect(sizes).toEqual([50, 50, 20]);
      const channels = receiver
        .events()
        .slice(10)
        .map((e) => (e as { channel: string }).channel)
        .sort();
      expect(channels).toEqual(Array.from({ length: 120 }, (_, i) => `b.${i}`).sort());
      await sleep(300);
      expect(receiver.requests).toHaveLength(4);
    });

    it('filters: event names, channel patterns, and Pusher app namespaces', async () => {
      const [r0, r1, r2, r3] = await Promise.all([
        Receiver.start(),
        Receiver.start(),
        Receiver.start(),
        Receiver.start(),
      ]);
      const { dispatcher } = await startDispatcher(kind, {
        endpoints: [
          { url: r0!.url },
          { url: r1!.url, events: ['member_added'], channelPattern: 'presence-*' },
          { url: r2!.url, appId: '2', events: ['channel_occupied', 'member_added', 'client_event'] },
          { url: r3!.url, events: ['client_event', 'connection_opened'], channelPattern: 'private' },
        ],
        batchMs: 30,
        timeoutMs: 1_000,
        backoff: 50,
      });
      expect(dispatcher.wants('client_event')).toBe(true);
      expect(dispatcher.wants('connection_closed')).toBe(false);
      const events: LifecycleEvent[] = [
        occupied('news'),
        occupied('app:2:news'),
        { name: 'member_added', channel: 'presence-lobby', user_id: 'u1' },
        { name: 'member_added', channel: 'app:2:presence-x', user_id: 'app:2:u9' },
        {
          name: 'client_event',
          channel: 'private-chat',
          event: 'client-typing',
          data: '{"on":true}',
          socket_id: '1.2',
        },
        {
          name: 'client_event',
          channel: 'app:2:presence-room',
          event: 'client-hi',
          data: '"hi"',
          socket_id: '3.4',
          user_id: 'app:2:u9',
        },
        { name: 'client_event', channel: 'presence-lobby', event: 'client-x', data: '{}' },
        { name: 'connection_opened', connection_id: 'c1', user_id: 'u1', transport: 'native', node_id: 'n1' },
        { name: 'connection_opened', connection_id: 'c2', user_id: 'app:2:u9', transport: 'pusher', node_id: 'n1' },
        { name: 'connection_closed', connection_id: 'c1', user_id: 'u1', transport: 'native', node_id: 'n1' },
        { name: 'cache_miss', channel: 'cache-prices' },
        { name: 'channel_vacated', channel: 'user:u1' },
        { name: 'member_removed', channel: 'app:2:presence-x', user_id: 'app:2:u9' },
      ];
      for (const event of events) dispatcher.push(event);
      await waitFor(() => [r0, r1, r2, r3].every((r) => r!.requests.length === 1), 5_000, 'one batch each');
      await sleep(200);
      expect(r0!.events()).toEqual([
        occupied('news'),
        { name: 'member_added', channel: 'presence-lobby', user_id: 'u1' },
        { name: 'cache_miss', channel: 'cache-prices' },
        { name: 'channel_vacated', channel: '#server-to-user-u1' },
      ]);
      expect(r1!.events()).toEqual([{ name: 'member_added', channel: 'presence-lobby', user_id: 'u1' }]);
      expect(r2!.events()).toEqual([
        occupied('news'),
        { name: 'member_added', channel: 'presence-x', user_id: 'u9' },
        {
          name: 'client_event',
          channel: 'presence-room',
          event: 'client-hi',
          data: '"hi"',
          socket_id: '3.4',
          user_id: 'u9',
        },
      ]);
      expect(r3!.events()).toEqual([
        {
          name: 'client_event',
          channel: 'private-chat',
          event: 'client-typing',
          data: '{"on":true}',
          socket_id: '1.2',
        },
        { name: 'connection_opened', connection_id: 'c1', user_id: 'u1', transport: 'native', node_id: 'n1' },
      ]);
      // each endpoint signs with its app's key and secret
      const appTwo = new Pusher({ appId: '2', key: APPS[1]!.key, secret: APPS[1]!.secret, cluster: 'mt1' });
      const request = r2!.requests[0]!;
      expect(appTwo.webhook({ headers: request.headers, rawBody: request.rawBody }).isValid()).toBe(true);
      expect(verifyWebhook({ headers: request.headers, rawBody: request.rawBody }, FIRST)).toBe(false);
      for (const r of [r0, r1, r2, r3]) expect(r!.requests).toHaveLength(1);
    });

    it('a receiver failing 500, garbage, reset, timeout, then answering: each event exactly once, gaps follow the backoff', async () => {
      const receiver = await Receiver.start([500, 'garbage', 'reset', 'silent', 'ok']);
      const delayMs = 200;
      const timeoutMs = 400;
      const { dispatcher, kit, log } = await startDispatcher(kind, [
        endpoint(receiver.url, {
          timeoutMs,
          backoff: { type: 'exponential', delayMs, maxDelayMs: 10_000 },
          breaker: { failureThreshold: 10 },
        }),
      ]);
      dispatcher.push(occupied('retry.me'));
      dispatcher.push({ name: 'member_added', channel: 'presence-retry', user_id: 'u7' });
      await waitFor(() => receiver.requests.length === 5, 15_000, 'five attempts');
      await sleep(1_500);
      expect(receiver.requests.map((r) => r.answer)).toEqual([500, 'garbage', 'reset', 'silent', 'ok']);
      // the same bytes and signature on every attempt
      expect(new Set(receiver.requests.map((r) => r.rawBody)).size).toBe(1);
      expect(new Set(receiver.requests.map((r) => r.headers['x-pusher-signature'])).size).toBe(1);
      expect(receiver.events()).toEqual([
        occupied('retry.me'),
        { name: 'member_added', channel: 'presence-retry', user_id: 'u7' },
      ]);
      // the waits: start-to-start gap n = the attempt's own time + delayMs · 2^(n-1)
      const gaps = receiver.requests.slice(1).map((r, i) => r.at - receiver.requests[i]!.at);
      const waits = [delayMs, delayMs * 2, delayMs * 4, delayMs * 8];
      const attemptTime = [0, 0, 0, timeoutMs];
      console.log(
        `[${kind}] retry gaps (ms): ${gaps.map((g) => g.toFixed(0)).join(', ')}; backoff ${waits.join(', ')}`,
      );
      gaps.forEach((gap, i) => {
        expect(gap).toBeGreaterThanOrEqual(waits[i]! + attemptTime[i]! - 25);
        expect(gap).toBeLessThan(waits[i]! + attemptTime[i]! + 1_000);
      });
      const failures = log.filter((e) => e.type === 'webhook-failed').map((e) => e.payload);
      expect(failures.map((f) => f.attempt)).toEqual([1, 2, 3, 4]);
      expect(failures.every((f) => f.final === false && f.events === 2 && f.url === receiver.url)).toBe(true);
      expect(String(failures[0]!.error)).toMatch(/HTTP 500/);
      expect(String(failures[3]!.error)).toMatch(new RegExp(`no answer within ${timeoutMs} ms`));
      const delivered = log.filter((e) => e.type === 'webhook-delivered').map((e) => e.payload);
      expect(delivered).toEqual([
        { url: receiver.url, events: 2, attempt: 5, status: 200, durationMs: expect.any(Number) },
      ]);
      expect(dispatcher.stats()).toMatchObject({ delivered: 1, failed: 0, failedAttempts: 4, dropped: 0 });
      expect((await kit.queue.deadLetters()).total).toBe(0);
    });

    it('a receiver that never answers: the dead-letter queue after retryForMs, its breaker opens, then no requests', async () => {
      const receiver = await Receiver.start(() => 'silent');
      const retryForMs = 2_500;
      const { dispatcher, kit, log } = await startDispatcher(kind, [
        endpoint(receiver.url, {
          timeoutMs: 200,
          retryForMs,
          backoff: { type: 'fixed', delayMs: 100 },
          breaker: { failureThreshold: 3, halfOpenAfterMs: 60_000 },
        }),
      ]);
      const pushedAt = performance.now();
      dispatcher.push(occupied('dead.end'));
      await waitUntil(async () => (await kit.queue.deadLetters()).total === 1, 15_000, 'the dead letter');
      const deadAt = performance.now();
      expect(deadAt - pushedAt).toBeGreaterThanOrEqual(retryForMs - 300);
      // three requests opened the breaker; every later attempt failed without one
      expect(receiver.requests).toHaveLength(3);
      expect(kit.breakers.get(`webhook:${receiver.url}`).state).toBe('open');
      const failures = log.filter((e) => e.type === 'webhook-failed').map((e) => e.payload);
      expect(failures.length).toBeGreaterThan(5);
      expect(failures.slice(0, 3).every((f) => /no answer within 200 ms/.test(String(f.error)))).toBe(true);
      expect(
        failures.slice(3).every((f) => /^no request made: circuit breaker webhook:\S+ is open/.test(String(f.error))),
      ).toBe(true);
      expect(failures.at(-1)!.final).toBe(true);
      expect(failures.slice(0, -1).every((f) => f.final === false)).toBe(true);
      expect(dispatcher.stats()).toMatchObject({ delivered: 0, failed: 1, failedAttempts: failures.length });
      const dead = await kit.queue.deadLetters();
      expect(dead.total).toBe(1);
      expect(dead.entries[0]).toMatchObject({ name: 'webhook', state: 'failed' });
      expect(dead.entries[0]!.failedReason).toMatch(/circuit breaker/);
      expect(JSON.parse((dead.entries[0]!.data as { body: string }).body).events).toEqual([occupied('dead.end')]);
      // while open, new batches cost the receiver nothing
      dispatcher.push(occupied('dead.again'));
      await waitFor(
        () => log.filter((e) => e.type === 'webhook-failed').length > failures.length + 2,
        5_000,
        'more attempts',
      );
      expect(receiver.requests).toHaveLength(3);
    });

    it('an unreachable URL (a closed port): ECONNREFUSED attempts, then the dead-letter queue', async () => {
      const url = await closedPortUrl();
      const { dispatcher, kit, log } = await startDispatcher(kind, [endpoint(url, { retryForMs: 400, backoff: 100 })]);
      dispatcher.push(occupied('nowhere'));
      await waitUntil(async () => (await kit.queue.deadLetters()).total === 1, 10_000, 'the dead letter');
      const failures = log.filter((e) => e.type === 'webhook-failed').map((e) => e.payload);
      expect(String(failures[0]!.error)).toMatch(/ECONNREFUSED/);
      expect(failures.at(-1)!.final).toBe(true);
      expect((await kit.queue.deadLetters()).total).toBe(1);
    });

    it('push() stays fast with a dead receiver: 100k events', async () => {
      const url = await closedPortUrl();
      const { dispatcher } = await startDispatcher(kind, [
        endpoint(url, { retryForMs: 1_000, backoff: 200, breaker: { failureThreshold: 2, halfOpenAfterMs: 60_000 } }),
      ]);
      // warm the breaker open first: the dead receiver as it is most of the time
      dispatcher.push(occupied('warm'));
      await waitFor(() => dispatcher.stats().failedAttempts >= 2, 5_000, 'the breaker to open');
      const total = 100_000;
      const chunk = 1_000;
      let pushing = 0;
      let worst = 0;
      for (let i = 0; i < total; i += chunk) {
        const started = performance.now();
        for (let j = i; j < i + chunk; j++) dispatcher.push(occupied(`load.${j}`));
        const took = performance.now() - started;
        pushing += took;
        worst = Math.max(worst, took);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const stats = dispatcher.stats();
      console.log(
        `[${kind}] 100k pushes with a dead receiver: ${pushing.toFixed(1)} ms in push() (${((pushing * 1_000) / total).toFixed(2)} µs each, worst chunk of ${chunk} ${worst.toFixed(1)} ms); dropped ${stats.droppedBatches} batches`,
      );
      expect(pushing).toBeLessThan(2_000);
      // every event is in a batch handed to the queue, dropped and counted, or still pending
      await waitFor(() => dispatcher.stats().pendingEvents === 0, 5_000, 'the last batch');
      // spread over event-loop turns as real traffic is, every batch reached the queue
      expect(dispatcher.stats()).toMatchObject({ pendingEvents: 0, dropped: 0, droppedBatches: 0 });
    });

    it('close() hands the pending batches to the queue; later pushes are dropped and counted', async () => {
      const receiver = await Receiver.start();
      const { dispatcher } = await startDispatcher(kind, [endpoint(receiver.url, { batchMs: 60_000 })]);
      for (let i = 0; i < 3; i++) dispatcher.push(occupied(`closing.${i}`));
      expect(dispatcher.stats().pendingEvents).toBe(3);
      await dispatcher.close();
      expect(dispatcher.stats().pendingEvents).toBe(0);
      dispatcher.push(occupied('too.late'));
      expect(dispatcher.stats().dropped).toBe(1);
      // the queue (still running: the service closes it after the dispatcher) sends the flushed batch
      await waitFor(() => receiver.requests.length === 1, 5_000, 'the flushed batch');
      expect(receiver.events()).toEqual([occupied('closing.0'), occupied('closing.1'), occupied('closing.2')]);
    });

    it('a queue that refuses batches (closed: UNAVAILABLE): they are dropped and counted, one error reported', async () => {
      const receiver = await Receiver.start();
      const { dispatcher, kit, log } = await startDispatcher(kind, [
        endpoint(receiver.url, { batchMs: 0, maxBatch: 2 }),
      ]);
      const errors: Error[] = [];
      dispatcher.on('error', (error) => errors.push(error));
      await kit.queue.close();
      for (let i = 0; i < 10; i++) dispatcher.push(occupied(`refused.${i}`));
      await waitFor(() => dispatcher.stats().droppedBatches === 5, 5_000, 'five dropped batches');
      expect(dispatcher.stats()).toMatchObject({ dropped: 10, droppedBatches: 5, pendingEvents: 0 });
      expect(log.filter((e) => e.type === 'webhook-dropped').map((e) => e.payload)).toHaveLength(5);
      expect(String(log[0]!.payload.reason)).toMatch(/the queue refused it: UNAVAILABLE/);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(/webhook batches are dropped while the queue refuses them/);
      expect(receiver.requests).toHaveLength(0);
    });
  });
}

describe('webhooks: bounded while the queue is slow', () => {
  it('batches beyond maxPendingAdds waiting for the queue are dropped, not held', async () => {
    // a queue whose add never answers (a Redis that hangs): a small fake, the only thing that can hang on cue
    const kit = makeQueueKit('memory', REDIS_URL);
    kits.push(kit);
    let adds = 0;
    const hanging = {
      handle: (name: string, handler: never) => kit.queue.handle(name, handler),
      on: () => hanging,
      off: () => hanging,
      add: () => {
        adds++;
        return new Promise(() => {});
      },
    } as unknown as JobQueue;
    const dispatcher = new WebhookDispatcher({
      endpoints: resolveWebhooks([endpoint('http://127.0.0.1:9/never', { maxBatch: 1 })], APPS),
      queue: hanging,
      breakers: kit.breakers,
      maxPendingAdds: 3,
    });
    dispatcher.start();
    for (let i = 0; i < 10; i++) dispatcher.push(occupied(`slow.${i}`));
    expect(adds).toBe(3);
    expect(dispatcher.stats()).toMatchObject({ dropped: 7, droppedBatches: 7, pendingEvents: 0 });
    const started = performance.now();
    await dispatcher.close(200);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe.skipIf(!redisAvailable)('webhooks on BullMQ: durable', { timeout: 30_000 }, () => {
  it('a node restarted mid-retry: the new dispatcher on the same prefix delivers the batch', async () => {
    const receiver = await Receiver.start([503, 'ok']);
    const prefix = `test:webhooks:${randomBytes(4).toString('hex')}`;
    prefixes.push(prefix);
    const webhooks = [endpoint(receiver.url, { backoff: { type: 'fixed', delayMs: 1_500 } })];
    const first = await startDispatcher('bullmq', webhooks, { prefix });
    expect(first.kit.queue.durable).toBe(true);
    first.dispatcher.push(occupied('survives.restart'));
    await waitFor(() => receiver.requests.length === 1, 5_000, 'the first attempt');
    await waitFor(() => first.log.some((e) => e.type === 'webhook-failed'), 5_000, 'its failure');
    // the node stops while the batch waits for its retry
    await first.dispatcher.close();
    await first.kit.queue.close();
    await sleep(2_000);
    expect(receiver.requests).toHaveLength(1);
    const second = await startDispatcher('bullmq', webhooks, { prefix });
    await waitFor(() => receiver.requests.length === 2, 10_000, 'the retry on the new node');
    await sleep(500);
    expect(receiver.requests).toHaveLength(2);
    expect(receiver.requests[1]!.rawBody).toBe(receiver.requests[0]!.rawBody);
    expect(receiver.events()).toEqual([occupied('survives.restart')]);
    expect(second.log.filter((e) => e.type === 'webhook-delivered').map((e) => e.payload)).toEqual([
      { url: receiver.url, events: 1, attempt: 2, status: 200, durationMs: expect.any(Number) },
    ]);
    expect((await second.kit.queue.deadLetters()).total).toBe(0);
  });

  it('a batch whose endpoint is gone after the restart: a final webhook-failed, no request, no endless retry', async () => {
    const receiver = await Receiver.start([503]);
    const prefix = `test:webhooks:${randomBytes(4).toString('hex')}`;
    prefixes.push(prefix);
    const first = await startDispatcher('bullmq', [endpoint(receiver.url, { backoff: 1_000 })], { prefix });
    first.dispatcher.push(occupied('orphan'));
    await waitFor(() => first.log.some((e) => e.type === 'webhook-failed'), 5_000, 'the first failure');
    await first.dispatcher.close();
    await first.kit.queue.close();
    const other = await Receiver.start();
    const second = await startDispatcher('bullmq', [endpoint(other.url)], { prefix });
    await waitFor(() => second.log.some((e) => e.type === 'webhook-failed'), 5_000, 'the orphan settled');
    expect(second.log.map((e) => e.payload)).toEqual([
      {
        url: receiver.url,
        events: 1,
        attempt: 2,
        error: expect.stringMatching(/no webhook endpoint .* is configured any more/),
        final: true,
      },
    ]);
    expect(receiver.requests).toHaveLength(1);
    expect(other.requests).toHaveLength(0);
    expect(second.dispatcher.stats()).toMatchObject({ failed: 1, delivered: 0 });
  });
});
