import { afterAll, afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { TestClient } from './client';
import { NodeProcess } from './nodes';
import { redisAvailable, uniquePrefix, waitFor, deleteTestKeys } from './redis';

/** Sizes of the soak (override with env for a longer local run). */
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 90);
const CHANNELS = Number(process.env.SOAK_CHANNELS ?? 4);
const PUBLISH_MS = Number(process.env.SOAK_PUBLISH_MS ?? 12_000);
const PUBLISH_INTERVAL_MS = Number(process.env.SOAK_INTERVAL_MS ?? 5);
const CHAOS_EVERY_MS = 60;
const CHAOS_PER_TICK = 3;

/** A small seeded PRNG, so a failing run can be replayed with SOAK_SEED. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const nodes: NodeProcess[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(nodes.splice(0).map((n) => n.kill('SIGKILL')));
});
afterAll(() => deleteTestKeys());

describe.skipIf(!redisAvailable)('recovery soak across three nodes', () => {
  it('clients reconnecting to random nodes with `since` end with every message of their channels, once, in order', async () => {
    const seed = Number(process.env.SOAK_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    onTestFailed(() => {
      console.error(`soak seed ${seed} (replay with SOAK_SEED=${seed})`);
      for (const n of nodes) if (n.stderr !== '') console.error(`--- ${n.nodeId} stderr ---\n${n.stderr}`);
    });
    const keyPrefix = uniquePrefix('soak');
    const started = Date.now();
    const trio = await Promise.all(
      ['sa', 'sb', 'sc'].map((nodeId) => NodeProcess.start({ nodeId, keyPrefix, historySize: 10_000 })),
    );
    nodes.push(...trio);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const channels = Array.from({ length: CHANNELS }, (_, i) => `soak.${i}`);

    // every client on a random node, subscribed to two channels
    const all = await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const c = await TestClient.open(pick(trio).url(), false);
        clients.push(c);
        const first = pick(channels);
        let second = pick(channels);
        while (second === first) second = pick(channels);
        for (const ch of [first, second]) {
          const ack = await c.subscribe(ch);
          expect(ack).toMatchObject({ type: 'ack', offset: 0 });
        }
        return c;
      }),
    );

    for (const n of trio) n.startLoop(channels, PUBLISH_INTERVAL_MS);
    let reconnects = 0;
    const busy = new Set<TestClient>();
    const reconnecting: Promise<void>[] = [];
    const chaos = setInterval(() => {
      for (let i = 0; i < CHAOS_PER_TICK; i++) {
        const c = pick(all);
        if (busy.has(c)) continue;
        busy.add(c);
        reconnects++;
        reconnecting.push(c.reconnect(pick(trio).url()).finally(() => busy.delete(c)));
      }
    }, CHAOS_EVERY_MS);
    await new Promise((resolve) => setTimeout(resolve, PUBLISH_MS));
    clearInterval(chaos);
    const results = await Promise.all(trio.map((n) => n.stopLoop()));
    await Promise.all(reconnecting);

    const acks = results.flatMap((r) => r.acks);
    const errors = results.reduce((n, r) => n + r.errors, 0);
    expect(errors).toBe(0);
    const top = new Map(channels.map((ch) => [ch, 0]));
    for (const a of acks) top.set(a.channel, Math.max(top.get(a.channel)!, a.offset));
    expect(new Set(acks.map((a) => a.epoch)).size).toBe(CHANNELS);
    // every offset was acknowledged exactly once per channel
    for (const ch of channels) {
      const offsets = acks
        .filter((a) => a.channel === ch)
        .map((a) => a.offset)
        .sort((x, y) => x - y);
      expect(offsets).toEqual(Array.from({ length: top.get(ch)! }, (_, i) => i + 1));
    }

    await waitFor(
      () => all.every((c) => [...c.channels].every(([ch, t]) => t.last >= top.get(ch)!)),
      30_000,
      'every client to catch up',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    let deliveries = 0;
    for (const c of all) {
      expect(c.violations).toEqual([]);
      for (const [ch, track] of c.channels) {
        deliveries += track.offsets.length;
        expect(track.offsets.length).toBe(top.get(ch));
        expect(track.offsets.every((o, i) => o === i + 1)).toBe(true);
      }
      for (const r of c.recoveries) expect(r).toMatchObject({ type: 'ack', recovered: true });
    }
    const stats = await Promise.all(
      trio.map((n) =>
        n.request<{ hub: { recovered: number }; broker: { gapsLost: number; resyncs: number } }>({ type: 'stats' }),
      ),
    );
    for (const s of stats) {
      expect(s.broker.gapsLost).toBe(0);
      expect(s.broker.resyncs).toBe(0);
    }
    const recovered = stats.reduce((n, s) => n + s.hub.recovered, 0);
    console.log(
      `soak (seed ${seed}): ${acks.length} messages on ${CHANNELS} channels from 3 nodes, ${CLIENTS} clients, ` +
        `${reconnects} reconnects to random nodes (${recovered} recovered subscriptions), ${deliveries} deliveries checked, ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });
});
