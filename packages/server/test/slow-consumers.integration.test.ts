import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildServer, TestClient, percentile, sleep, until } from './child';

// Clients that stop reading while the server publishes megabytes: the server (a child process, measured from outside)
// stays within a stated RSS bound, each slow client is handled by its channel's policy, and the fast clients keep
// their latency. Real sockets; a slow client pauses its TCP socket, so the server's kernel buffers fill first, then
// its user-space buffers.

const MiB = 1024 * 1024;
const MAX_BUFFERED = 1 * MiB;
const BIG = 64 * 1024; // bytes per big message
const BIG_COUNT = 200; // per channel per phase: 12.5 MiB, at about 4 MiB/s per channel
const KEYS = 4;
/** The stated bound: RSS during the slow phase stays within this of the RSS after the same load without slow clients. */
const RSS_BOUND = 40 * MiB;
/** The stated bound on the fast clients' p99 publish-to-receive latency, in both phases (loopback, generous). */
const P99_BOUND_MS = 75;

let child: ChildServer;
beforeAll(async () => {
  child = await ChildServer.start({
    limits: { maxBufferedBytes: MAX_BUFFERED, maxConnectionsPerIp: 1000 },
    history: { size: 20 },
    backpressure: {
      policies: [
        { pattern: 'volatile.*', policy: 'drop-oldest' },
        { pattern: 'state.*', policy: 'coalesce-latest', keyField: 'key' },
      ],
    },
  });
});
afterAll(async () => {
  await child?.stop();
});

interface Phase {
  rssBefore: number;
  rssPeak: number;
}

/** One phase: a steady ticker measured by the fast clients while the big channels get 25 MiB each. */
async function phase(reader: TestClient): Promise<Phase> {
  await child.call('gc');
  const before = await child.call<{ rss: number }>('snapshot');
  let rssPeak = before.rss;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await child.call<{ rss: number }>('snapshot');
      rssPeak = Math.max(rssPeak, s.rss);
      await sleep(100);
    }
  })();
  const readerBefore = ['stream.big', 'volatile.big', 'state.big'].map((ch) => reader.counts.get(ch) ?? 0);
  await child.call('startTicker', { channel: 'lat', intervalMs: 5 });
  await sleep(300);
  await Promise.all(
    ['stream.big', 'volatile.big', 'state.big'].map((channel) =>
      child.call('publish', {
        channel,
        count: BIG_COUNT,
        size: BIG,
        keys: channel === 'state.big' ? KEYS : 0,
        perTick: 1,
        pauseMs: 15,
      }),
    ),
  );
  await sleep(500);
  await child.call('stopTicker', {});
  // the fast reader of the big channels gets every message, slow subscribers or not
  await until(
    () =>
      ['stream.big', 'volatile.big', 'state.big'].every(
        (ch, i) => (reader.counts.get(ch) ?? 0) - readerBefore[i]! === BIG_COUNT,
      ),
    20_000,
    `the fast reader to receive everything (got ${JSON.stringify([...reader.counts])}, closed ${JSON.stringify(reader.closed)})`,
  );
  sampling = false;
  await sampler;
  return { rssBefore: before.rss, rssPeak };
}

describe('slow consumers over real sockets', () => {
  it('bounds RSS, applies each policy, and keeps the fast clients latency', { timeout: 120_000 }, async () => {
    const latencySink: { fn?: (m: TestClient['messages'][number]) => void } = {};
    const fast = await Promise.all(
      Array.from({ length: 20 }, () =>
        TestClient.open(child.url, ['lat'], { keep: false, onMessage: (m) => latencySink.fn?.(m) }),
      ),
    );
    const reader = await TestClient.open(child.url, ['stream.big', 'volatile.big', 'state.big'], { keep: false });

    // phase 1: the load without slow clients
    let latencies: number[] = [];
    latencySink.fn = (m) => latencies.push(m.receivedAt - (m.data.t as number));
    const without = await phase(reader);
    const p99Without = percentile(
      latencies.sort((a, b) => a - b),
      99,
    );
    const p50Without = percentile(latencies, 50);
    const countWithout = latencies.length;

    // phase 2: the same load with a client that stops reading on each big channel
    const slowStream = await TestClient.open(child.url, ['stream.big']);
    const slowVolatile = await TestClient.open(child.url, ['volatile.big']);
    const slowState = await TestClient.open(child.url, ['state.big']);
    for (const c of [slowStream, slowVolatile, slowState]) c.pause();
    latencies = [];
    const withSlow = await phase(reader);
    const p99With = percentile(
      latencies.sort((a, b) => a - b),
      99,
    );
    const p50With = percentile(latencies, 50);
    const stats = await child.call<{ hub: { drops: Record<string, number>; slowConsumers: number } }>('stats');

    const growth = withSlow.rssPeak - withSlow.rssBefore;
    console.log(
      `[slow consumers] published ${(3 * BIG_COUNT * BIG) / MiB} MiB per phase; RSS before ${(withSlow.rssBefore / MiB).toFixed(1)} MiB, ` +
        `peak without slow clients ${(without.rssPeak / MiB).toFixed(1)} MiB, peak with ${(withSlow.rssPeak / MiB).toFixed(1)} MiB ` +
        `(growth ${(growth / MiB).toFixed(1)} MiB, bound ${RSS_BOUND / MiB} MiB); fast clients p50/p99 ` +
        `${p50Without.toFixed(2)}/${p99Without.toFixed(2)} ms without (${countWithout} samples), ` +
        `${p50With.toFixed(2)}/${p99With.toFixed(2)} ms with (${latencies.length} samples); drops ${JSON.stringify(stats.hub.drops)}`,
    );

    // RSS: bounded while 37.5 MiB were published to three clients that read nothing
    expect(growth).toBeLessThan(RSS_BOUND);
    // latency of the others
    expect(p99Without).toBeLessThan(P99_BOUND_MS);
    expect(p99With).toBeLessThan(P99_BOUND_MS);

    // disconnect: the slow subscriber of the stream was closed with 4008 (it recovers from history on reconnect)
    const closed = await child.waitEvent((e) => e.event === 'disconnect' && e.connectionId === slowStream.connectionId);
    expect(closed.code).toBe(4008);
    expect(stats.hub.slowConsumers).toBe(1);
    // drop-oldest and coalesce-latest: still connected, drops counted
    expect(stats.hub.drops['drop-oldest']).toBeGreaterThan(0);
    expect(stats.hub.drops['coalesce-latest']).toBeGreaterThan(0);
    expect(slowVolatile.closed).toBeUndefined();
    expect(slowState.closed).toBeUndefined();

    // resume: drop-oldest delivers the newest message, in order, with what was dropped missing
    for (const c of [slowStream, slowVolatile, slowState]) c.resume();
    await until(() => slowVolatile.last('volatile.big')?.data.seq === BIG_COUNT, 20_000, 'the newest volatile message');
    const volatileSeqs = slowVolatile.messages.map((m) => m.offset);
    expect(volatileSeqs).toEqual([...volatileSeqs].sort((a, b) => a - b));
    expect(slowVolatile.messages.length).toBeLessThan(2 * BIG_COUNT);

    // coalesce-latest: what the slow client gets after the backlog is only the latest state of each key
    await until(() => slowState.last('state.big')?.data.seq === BIG_COUNT, 20_000, 'the latest state');
    const tail = slowState.messages.slice(-KEYS);
    expect(new Set(tail.map((m) => m.data.key)).size).toBe(KEYS);
    expect(tail.map((m) => m.data.seq).sort((a, b) => (a as number) - (b as number))).toEqual(
      Array.from({ length: KEYS }, (_, i) => BIG_COUNT - KEYS + 1 + i),
    );
    expect(slowState.messages.length).toBeLessThan(2 * BIG_COUNT);

    // the stream's slow client sees its close once it reads again
    await until(() => slowStream.closed !== undefined, 10_000, 'the slow stream client to see its close');
    expect([4008, 1006]).toContain(slowStream.closed!.code);

    for (const c of [...fast, reader, slowVolatile, slowState]) c.close();
  });
});
