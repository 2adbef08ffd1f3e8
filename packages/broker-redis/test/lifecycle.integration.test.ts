import { Hub, type TransportSocket } from '@unisocket/core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { RedisBroker } from '../src/index';
import { TestClient } from './client';
import { type NodeEvents, NodeProcess, type NodeOptions } from './nodes';
import { REDIS_URL, deleteTestKeys, redisAvailable, uniquePrefix, waitFor } from './redis';

// Channel lifecycle across nodes in separate processes on the real Redis: the Hub's `occupancy` event (occupied /
// vacated, kept in the presence store with per-node leases) and its `presence` event (a member's join / leave), each
// emitted on exactly one node per cluster-wide change.

const nodes: NodeProcess[] = [];
const clients: TestClient[] = [];
const hubs: Hub[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(nodes.splice(0).map((n) => n.kill('SIGKILL')));
  for (const hub of hubs.splice(0)) {
    hub.close();
    await hub.broker.close();
  }
});
afterAll(() => deleteTestKeys());

const GRACE_MS = 400;

async function startNodes(names: string[], options: Partial<NodeOptions> = {}): Promise<NodeProcess[]> {
  const keyPrefix = uniquePrefix('lifecycle');
  const started = await Promise.all(
    names.map((nodeId) =>
      NodeProcess.start({ leaveGraceMs: GRACE_MS, occupancyGraceMs: GRACE_MS, ...options, keyPrefix, nodeId }),
    ),
  );
  nodes.push(...started);
  onTestFailed(() => {
    for (const n of started) if (n.stderr !== '') console.error(`--- ${n.nodeId} stderr ---\n${n.stderr}`);
  });
  return started;
}

async function client(url: string): Promise<TestClient> {
  const c = await TestClient.open(url);
  clients.push(c);
  return c;
}

async function subscribed(url: string, channel: string): Promise<TestClient> {
  const c = await client(url);
  const ack = await c.request({ type: 'subscribe', channel });
  expect(ack).toMatchObject({ type: 'ack', channel });
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every node's events about one channel, as `<node>:<action>` (occupancy) and `<node>:<action>:<user>` (presence). */
async function eventsOf(of: NodeProcess[], channel: string): Promise<{ occupancy: string[]; presence: string[] }> {
  const all = await Promise.all(of.map(async (n) => [n.nodeId, await n.events()] as [string, NodeEvents]));
  const occupancy: { at: number; text: string }[] = [];
  const presence: { at: number; text: string }[] = [];
  for (const [id, events] of all) {
    for (const e of events.occupancy)
      if (e.channel === channel) occupancy.push({ at: e.at, text: `${id}:${e.action}` });
    for (const e of events.presence) {
      if (e.channel === channel) presence.push({ at: e.at, text: `${id}:${e.action}:${e.userId}` });
    }
  }
  const inOrder = (list: { at: number; text: string }[]): string[] =>
    list.sort((x, y) => x.at - y.at).map((e) => e.text);
  return { occupancy: inOrder(occupancy), presence: inOrder(presence) };
}

describe.skipIf(!redisAvailable)('channel lifecycle across two nodes on Redis', () => {
  it('occupied once on the first subscriber anywhere, vacated once after the last one everywhere and the grace', async () => {
    const [a, b] = await startNodes(['la', 'lb']);
    const both = [a!, b!];
    // subscribers arriving on both nodes at once: exactly one `occupied`
    const first = await Promise.all([subscribed(a!.url(), 'race'), subscribed(b!.url(), 'race')]);
    const onA = await subscribed(a!.url(), 'room');
    await waitFor(async () => (await eventsOf(both, 'room')).occupancy.length === 1, 5000, 'occupied');
    const onB = await subscribed(b!.url(), 'room');
    onA.close();
    await sleep(GRACE_MS + 300); // A's grace is over: B still holds the channel
    expect((await eventsOf(both, 'room')).occupancy).toEqual(['la:occupied']);
    const lastLeftAt = Date.now();
    onB.close();
    await waitFor(async () => (await eventsOf(both, 'room')).occupancy.length === 2, 5000, 'vacated');
    for (const c of first) c.close();
    await sleep(GRACE_MS + 500);
    expect((await eventsOf(both, 'room')).occupancy).toEqual(['la:occupied', 'lb:vacated']);
    const race = (await eventsOf(both, 'race')).occupancy;
    expect(race.map((e) => e.slice(3))).toEqual(['occupied', 'vacated']);
    // and the grace was waited: not vacated before it ran out
    const vacated = (await b!.events()).occupancy.find((e) => e.channel === 'room' && e.action === 'vacated')!;
    expect(vacated.at - lastLeftAt).toBeGreaterThanOrEqual(GRACE_MS - 20);
  });

  it('a member with tabs on both nodes joins once and leaves once, cluster-wide', async () => {
    const [a, b] = await startNodes(['pa', 'pb']);
    const both = [a!, b!];
    const tab1 = await subscribed(a!.url('u1'), 'presence-lobby');
    const tab2 = await subscribed(b!.url('u1'), 'presence-lobby');
    const other = await subscribed(b!.url('u2'), 'presence-lobby');
    await waitFor(async () => (await eventsOf(both, 'presence-lobby')).presence.length === 2, 5000, 'two joins');
    tab1.close();
    await sleep(GRACE_MS + 300);
    expect((await eventsOf(both, 'presence-lobby')).presence).toEqual(['pa:join:u1', 'pb:join:u2']);
    tab2.close();
    other.close();
    await waitFor(async () => (await eventsOf(both, 'presence-lobby')).presence.length === 4, 5000, 'two leaves');
    await sleep(500);
    const { presence, occupancy } = await eventsOf(both, 'presence-lobby');
    expect(presence.filter((e) => e.endsWith(':u1'))).toEqual(['pa:join:u1', 'pb:leave:u1']);
    expect(presence.filter((e) => e.endsWith(':u2'))).toEqual(['pb:join:u2', 'pb:leave:u2']);
    expect(occupancy).toEqual(['pa:occupied', 'pb:vacated']);
  });

  it("a user's tab moving from one node to the other within the grace makes no member and no occupancy event", async () => {
    const [a, b] = await startNodes(['ca', 'cb'], { leaveGraceMs: 1000, occupancyGraceMs: 1000 });
    const both = [a!, b!];
    const tab1 = await subscribed(a!.url('u5'), 'presence-churn');
    await waitFor(
      async () => {
        const e = await eventsOf(both, 'presence-churn');
        return e.occupancy.length === 1 && e.presence.length === 1;
      },
      5000,
      'occupied and join',
    );
    tab1.close();
    await tab1.waitClose();
    await sleep(150);
    const tab2 = await subscribed(b!.url('u5'), 'presence-churn');
    await sleep(1000 + 700); // A's graces are over
    expect(await eventsOf(both, 'presence-churn')).toEqual({ occupancy: ['ca:occupied'], presence: ['ca:join:u5'] });
    // the store still has the member and the channel (through B): leaving for good is seen once
    const watcher = await subscribed(a!.url('w'), 'presence-churn');
    const members = await watcher.request({ type: 'presence', channel: 'presence-churn' });
    expect((members.members as { userId: string }[]).map((m) => m.userId).sort()).toEqual(['u5', 'w']);
    watcher.close();
    tab2.close();
    await waitFor(async () => (await eventsOf(both, 'presence-churn')).occupancy.length === 2, 5000, 'vacated');
    await sleep(300);
    const after = await eventsOf(both, 'presence-churn');
    expect(after.occupancy).toEqual(['ca:occupied', 'cb:vacated']);
    expect(after.presence.filter((e) => e.endsWith(':u5'))).toEqual(['ca:join:u5', 'cb:leave:u5']);
  });

  it('a node killed with SIGKILL: the survivor reports its channels vacated and its members left after its lease', async () => {
    const lease = { presenceRefreshMs: 100, presenceLeaseMs: 400 };
    const [a, b] = await startNodes(['ka', 'kb'], lease);
    await subscribed(a!.url('u9'), 'presence-killed');
    await subscribed(a!.url(), 'shared');
    const survivor = await subscribed(b!.url(), 'shared');
    await waitFor(
      async () => (await a!.events()).occupancy.filter((e) => e.channel !== 'user:u9').length === 2,
      5000,
      'occupied on the node to kill',
    );
    const before = await eventsOf([a!], 'presence-killed');
    expect(before).toEqual({ occupancy: ['ka:occupied'], presence: ['ka:join:u9'] });
    const killedAt = Date.now();
    await a!.kill('SIGKILL');
    await waitFor(
      async () => {
        const e = await eventsOf([b!], 'presence-killed');
        return e.occupancy.length === 1 && e.presence.length === 1;
      },
      10_000,
      'the sweep after the lease',
    );
    const events = (await b!.events()) as NodeEvents;
    const sweptAt = Math.min(
      ...[...events.occupancy, ...events.presence].filter((e) => e.channel === 'presence-killed').map((e) => e.at),
    );
    await sleep(800); // many more sweeps
    expect(await eventsOf([b!], 'presence-killed')).toEqual({
      occupancy: ['kb:vacated'],
      presence: ['kb:leave:u9'],
    });
    // its personal channel too; the channel the survivor still holds stays occupied
    expect((await eventsOf([b!], 'user:u9')).occupancy).toEqual(['kb:vacated']);
    expect((await eventsOf([b!], 'shared')).occupancy).toEqual([]);
    // not before the lease could have expired (refreshed at most 100 ms before the kill, 400 ms long)
    expect(sweptAt - killedAt).toBeGreaterThanOrEqual(250);
    // the survivor's clients were never told of the occupancy keys
    expect(survivor.frames.filter((f) => f.type === 'presence')).toEqual([]);
    survivor.close();
    await waitFor(async () => (await eventsOf([b!], 'shared')).occupancy.length === 1, 5000, 'shared vacated');
    expect((await eventsOf([b!], 'shared')).occupancy).toEqual(['kb:vacated']);
  });
});

/** A socket that writes nowhere: in-process Hubs only need their connections to exist. */
const silentSocket = (): TransportSocket => ({
  bufferedBytes: 0,
  sendFrame: () => {},
  sendBatch: () => {},
  close: () => {},
});

describe.skipIf(!redisAvailable)('channel lifecycle when a node loses its lease (two in-process Hubs on Redis)', () => {
  it('the sweeping node reports vacated; the node back restores its channels and reports occupied', async () => {
    const keyPrefix = uniquePrefix('lifecycle-lease');
    const presence = { refreshMs: 50, leaseMs: 150 };
    const [a, b] = await Promise.all(
      ['ra', 'rb'].map(async (nodeId) => {
        const broker = new RedisBroker({ url: REDIS_URL, keyPrefix, nodeId, presence });
        const hub = new Hub({ broker, occupancy: { enabled: true, graceMs: 0 } });
        hub.on('error', () => {});
        await hub.start();
        hubs.push(hub);
        return { hub, broker };
      }),
    );
    const events: string[] = [];
    for (const [name, x] of [
      ['a', a!],
      ['b', b!],
    ] as const) {
      x.hub.on('occupancy', (channel, action) => events.push(`${name}:${action}:${channel}`));
      x.hub.on('presence', (channel) => events.push(`${name}:presence:${channel}`));
    }
    const conn = a!.hub.addConnection({ socket: silentSocket(), transport: 'native', ip: '127.0.0.1' });
    a!.hub.handleText(conn, JSON.stringify({ type: 'subscribe', channel: 'room' }));
    await waitFor(() => events.includes('a:occupied:room'), 5000, 'occupied');
    // as if A was cut off past its lease: the lease expires and B sweeps A's channels
    const store = a!.broker.presence;
    const owner = store.owner;
    const refresh = store.refresh;
    store.refresh = async () => {};
    const redis = new Redis(REDIS_URL);
    try {
      await redis.del(`${keyPrefix}lease:${owner}`);
    } finally {
      redis.disconnect();
    }
    await waitFor(() => events.includes('b:vacated:room'), 5000, 'the sweep');
    // A is back: it finds its lease gone and restores its entries, the channel's occupancy among them
    store.refresh = refresh;
    await waitFor(() => events.length === 3, 5000, 'the restore');
    await new Promise((resolve) => setTimeout(resolve, 300)); // B keeps sweeping: the restored entry stays
    expect(events).toEqual(['a:occupied:room', 'b:vacated:room', 'a:occupied:room']);
    a!.hub.removeConnection(conn);
    await waitFor(() => events.length === 4, 5000, 'vacated');
    expect(events[3]).toBe('a:vacated:room');
  });
});
