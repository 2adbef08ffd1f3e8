import { afterAll, afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { TestClient } from './client';
import { NodeProcess, type NodeOptions } from './nodes';
import { PrivateRedis, redisAvailable, uniquePrefix, waitFor, deleteTestKeys } from './redis';
import { redisTargets } from './targets';

// The first suite runs twice: on the shared single Redis and on a private Redis Cluster (3 masters with a replica each,
// started once for this file), where the nodes use sharded pub/sub. The second needs a single Redis to restart.
const targets = await redisTargets();

const nodes: NodeProcess[] = [];
const clients: TestClient[] = [];
const servers: PrivateRedis[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(nodes.splice(0).map((n) => n.kill('SIGKILL')));
  await Promise.all(servers.splice(0).map((s) => s.kill()));
});
afterAll(() => deleteTestKeys());

async function startNodes(count: number, options: Partial<NodeOptions> = {}): Promise<NodeProcess[]> {
  const keyPrefix = options.keyPrefix ?? uniquePrefix('nodes');
  const started = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      NodeProcess.start({ ...options, keyPrefix, nodeId: `${options.nodeId ?? 'n'}${String.fromCharCode(97 + i)}` }),
    ),
  );
  nodes.push(...started);
  onTestFailed(() => {
    for (const n of started) if (n.stderr !== '') console.error(`--- ${n.nodeId} stderr ---\n${n.stderr}`);
  });
  return started;
}

async function client(url: string, keepFrames = true): Promise<TestClient> {
  const c = await TestClient.open(url, keepFrames);
  clients.push(c);
  return c;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(targets)('three nodes in separate processes on $name', (target) => {
  if (!target.available) it.skip('needs the target', () => {});
  else {
    it('delivers every message to every subscriber on every node, once and in order', async () => {
      const [a, b, c] = await startNodes(3, { redisEnv: target.nodeEnv() });
      const subs = await Promise.all([a!, b!, c!, a!, b!, c!].map((n) => client(n.url())));
      await Promise.all(subs.map((s) => s.subscribe('room')));
      await Promise.all(subs.slice(0, 3).map((s) => s.subscribe('other')));
      // 3 × 100 publishes at once, from the three nodes, on two channels
      const results = await Promise.all(
        [a!, b!, c!].map((n, i) =>
          n.request<{ acks: { offset: number }[] }>({ type: 'publishMany', channel: 'room', count: 100, tag: i }),
        ),
      );
      await b!.publish('other', 'x');
      expect(results.flatMap((r) => r.acks.map((x) => x.offset)).sort((x, y) => x - y)).toEqual(range(1, 300));
      await waitFor(
        () =>
          subs.every((s) => s.channels.get('room')!.offsets.length === 300) &&
          subs.slice(0, 3).every((s) => s.channels.get('other')!.offsets.length === 1),
        20_000,
        'all deliveries',
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const s of subs) {
        expect(s.violations).toEqual([]);
        expect(s.channels.get('room')!.offsets).toEqual(range(1, 300));
        // each publisher's messages keep the order it published them in
        for (const tag of [0, 1, 2]) {
          const seq = s
            .messages('room')
            .filter((m) => (m.data as { tag: number }).tag === tag)
            .map((m) => (m.data as { i: number }).i);
          expect(seq).toHaveLength(100);
        }
      }
      for (const s of subs.slice(0, 3)) expect(s.channels.get('other')!.offsets).toEqual([1]);
      for (const s of subs.slice(3)) expect(s.messages('other')).toEqual([]);
    });

    it('recovers on another node: a client that reconnects elsewhere with `since` gets every missed message once', async () => {
      const [a, b, c] = await startNodes(3, { historySize: 500, redisEnv: target.nodeEnv() });
      const onA = await client(a!.url());
      const ack = await onA.subscribe('news');
      for (let i = 1; i <= 10; i++) await [a!, b!, c!][i % 3]!.publish('news', i);
      await waitFor(() => onA.channels.get('news')!.last === 10);
      onA.terminate();
      for (let i = 11; i <= 40; i++) await [a!, b!, c!][i % 3]!.publish('news', i);
      const onB = await client(b!.url());
      const resumed = await onB.request({
        type: 'subscribe',
        channel: 'news',
        since: { epoch: ack.epoch, offset: 10 },
      });
      expect(resumed).toMatchObject({ type: 'ack', recovered: true, epoch: ack.epoch, offset: 40 });
      for (let i = 41; i <= 45; i++) await [a!, b!, c!][i % 3]!.publish('news', i);
      await waitFor(() => onB.messages('news').length === 35, 10_000, 'the replay and the live messages');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(onB.messages('news').map((m) => m.offset)).toEqual(range(11, 45));
      expect(onB.messages('news').map((m) => m.data)).toEqual(range(11, 45));
      // and a position history no longer covers is told so
      const onC = await client(c!.url());
      const unknown = await onC.request({
        type: 'subscribe',
        channel: 'news',
        since: { epoch: 'not-this-one', offset: 3 },
      });
      expect(unknown).toMatchObject({ recovered: false, epoch: ack.epoch, offset: 45 });
    });

    it('presence across nodes: one join and one leave per user, over tabs on different nodes', async () => {
      const [a, b, c] = await startNodes(3, { redisEnv: target.nodeEnv() });
      const watchers = [await client(a!.url('wa')), await client(b!.url('wb')), await client(c!.url('wc'))];
      for (const w of watchers) await w.request({ type: 'subscribe', channel: 'presence-lobby' });
      const seenBy = (w: TestClient) => w.presence('presence-lobby').filter((e) => e.endsWith(':u1'));
      const tab1 = await client(a!.url('u1'));
      const joined = await tab1.request({ type: 'subscribe', channel: 'presence-lobby' });
      expect((joined.members as { userId: string }[]).map((m) => m.userId).sort()).toEqual(['u1', 'wa', 'wb', 'wc']);
      await waitFor(() => watchers.every((w) => seenBy(w).length === 1), 5000, 'the join everywhere');
      const tab2 = await client(b!.url('u1'));
      await tab2.request({ type: 'subscribe', channel: 'presence-lobby' });
      tab1.close();
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const w of watchers) expect(seenBy(w)).toEqual(['join:u1']);
      const members = await watchers[2]!.request({ type: 'presence', channel: 'presence-lobby' });
      expect((members.members as { userId: string }[]).map((m) => m.userId).sort()).toEqual(['u1', 'wa', 'wb', 'wc']);
      tab2.close();
      await waitFor(() => watchers.every((w) => seenBy(w).length === 2), 5000, 'the leave everywhere');
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const w of watchers) expect(seenBy(w)).toEqual(['join:u1', 'leave:u1']);
    });

    it('a node killed with SIGKILL: its members leave after its lease, exactly once, on every other node', async () => {
      const [a, b, c] = await startNodes(3, { presenceRefreshMs: 200, redisEnv: target.nodeEnv() });
      const wa = await client(a!.url('wa'));
      const wb = await client(b!.url('wb'));
      for (const w of [wa, wb]) await w.request({ type: 'subscribe', channel: 'presence-room' });
      // u9 only on c; u8 on c and on a (stays present through a)
      for (const [node, user] of [
        [c!, 'u9'],
        [c!, 'u8'],
        [a!, 'u8'],
      ] as const) {
        const tab = await client(node.url(user));
        await tab.request({ type: 'subscribe', channel: 'presence-room' });
      }
      await waitFor(() =>
        [wa, wb].every((w) => w.presence('presence-room').filter((e) => e.startsWith('join:u')).length === 2),
      );
      const killedAt = Date.now();
      await c!.kill('SIGKILL');
      const leaves = (w: TestClient) => w.presence('presence-room').filter((e) => e.startsWith('leave:'));
      await waitFor(() => [wa, wb].every((w) => leaves(w).length >= 1), 10_000, 'the leave after the lease');
      const tookMs = Date.now() - killedAt;
      await new Promise((resolve) => setTimeout(resolve, 1000)); // several more sweeps by both nodes
      for (const w of [wa, wb]) expect(leaves(w)).toEqual(['leave:u9']);
      expect(tookMs).toBeGreaterThanOrEqual(300); // not before the lease (600 ms from the last refresh) expired
      const members = await wa.request({ type: 'presence', channel: 'presence-room' });
      expect((members.members as { userId: string }[]).map((m) => m.userId).sort()).toEqual(['u8', 'wa', 'wb']);
    });
  }
});

describe.skipIf(!redisAvailable)('three nodes in separate processes on one Redis', () => {
  it("a node stopped gracefully (SIGTERM) announces its members' leaves before it goes", async () => {
    const [a, b, c] = await startNodes(3);
    const wa = await client(a!.url('wa'));
    const wb = await client(b!.url('wb'));
    for (const w of [wa, wb]) await w.request({ type: 'subscribe', channel: 'presence-g' });
    const tab = await client(c!.url('u7'));
    await tab.request({ type: 'subscribe', channel: 'presence-g' });
    await waitFor(() => [wa, wb].every((w) => w.presence('presence-g').includes('join:u7')));
    await c!.stop();
    expect(await tab.waitClose()).toMatchObject({ code: 1001 });
    await waitFor(() => [wa, wb].every((w) => w.presence('presence-g').includes('leave:u7')), 5000, 'the leave');
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const w of [wa, wb])
      expect(w.presence('presence-g').filter((e) => e.endsWith(':u7'))).toEqual(['join:u7', 'leave:u7']);
  });

  it('Redis restarted mid-stream: nodes stay up, go degraded then healthy, converge, and recover honestly', async () => {
    const redis = await PrivateRedis.start();
    servers.push(redis);
    const [a, b, c] = await startNodes(3, { redisUrl: redis.url, historySize: 5000 });
    const channels = ['s1', 's2'];
    const live = [await client(a!.url()), await client(b!.url()), await client(c!.url())];
    for (const l of live) for (const ch of channels) await l.subscribe(ch);
    // a client that leaves before the outage and comes back after it
    const away = await client(b!.url());
    for (const ch of channels) await away.subscribe(ch);
    // c publishes nothing: after the outage it has no queued publish of its own to see the new epoch through
    for (const n of [a!, b!]) n.startLoop(channels, 7);
    await new Promise((resolve) => setTimeout(resolve, 700));
    away.terminate();
    await redis.kill();
    await waitFor(
      async () => (await Promise.all([a!, b!, c!].map((n) => n.health()))).every((h) => h.status === 'degraded'),
      10_000,
      'degraded',
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    await redis.start();
    await waitFor(
      async () => (await Promise.all([a!, b!, c!].map((n) => n.health()))).every((h) => h.status === 'healthy'),
      15_000,
      'healthy',
    );
    await new Promise((resolve) => setTimeout(resolve, 700));
    const results = await Promise.all([a!, b!].map((n) => n.stopLoop()));
    for (const n of [a!, b!, c!]) expect(n.alive).toBe(true);
    // every publish acknowledged in the new epoch reached every live client, in order (the old epoch ended with the
    // Redis that held it: clients were told with a resync)
    const acks = results.flatMap((r) => r.acks);
    const newEpoch = new Map<string, number>();
    for (const ch of channels) {
      const epochs = [...new Set(acks.filter((x) => x.channel === ch).map((x) => x.epoch))];
      expect(epochs).toHaveLength(2);
      newEpoch.set(ch, Math.max(...acks.filter((x) => x.channel === ch && x.epoch === epochs[1]).map((x) => x.offset)));
    }
    await waitFor(
      () => live.every((l) => channels.every((ch) => l.channels.get(ch)!.last >= newEpoch.get(ch)!)),
      10_000,
      'every live client to converge',
    );
    for (const l of live) {
      for (const ch of channels) {
        const track = l.channels.get(ch)!;
        const epoch = acks.find((x) => x.channel === ch && x.offset === newEpoch.get(ch))!.epoch;
        expect(track.epoch).toBe(epoch);
        const resyncs = l.frames.filter((f) => f.type === 'resync' && f.channel === ch);
        expect(resyncs.length).toBeGreaterThanOrEqual(1);
        // after the resync, the whole new epoch arrives (history kept it), without a gap or a duplicate
        const last = resyncs.at(-1)!;
        expect(last).toMatchObject({ epoch, offset: 0 });
        const after = l.frames
          .slice(l.frames.indexOf(last) + 1)
          .filter((f) => f.type === 'message' && f.channel === ch);
        expect(after.map((m) => m.offset)).toEqual(range((last.offset as number) + 1, newEpoch.get(ch)!));
      }
    }
    // the client that was away comes back with a position of the lost epoch: it is told it missed messages
    const back = await client(c!.url());
    for (const ch of channels) {
      const track = away.channels.get(ch)!;
      const ack = await back.request({
        type: 'subscribe',
        channel: ch,
        since: { epoch: track.epoch, offset: track.last },
      });
      expect(ack).toMatchObject({ type: 'ack', recovered: false });
    }
    // and a client of the new epoch recovers fully on another node
    const l0 = live[0]!;
    const pos = l0.channels.get('s1')!;
    l0.terminate();
    await a!.publish('s1', 'after');
    const again = await client(b!.url());
    const ack = await again.request({
      type: 'subscribe',
      channel: 's1',
      since: { epoch: pos.epoch, offset: pos.last },
    });
    expect(ack).toMatchObject({ recovered: true, offset: pos.last + 1 });
    await waitFor(() => again.messages('s1').length === 1);
  });
});
