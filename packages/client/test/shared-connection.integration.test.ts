import { io as realIo } from 'socket.io-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type UnisocketClient, createClient } from '../src/index';
import { FakeTab, LockTable } from './fake-tabs';
import { FAST_RECONNECT, type TestServer, sleep, startServer, waitFor } from './helpers';

/**
 * `shareConnection` in Node, against a real server: "tabs" are simulated in one process (each with its own Web
 * Locks view, BroadcastChannels and sockets; see fake-tabs.ts). The same code runs in Chromium in
 * shared-connection.browser.test.ts.
 */

const servers: TestServer[] = [];
const clients: UnisocketClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(): Promise<TestServer> {
  const s = await startServer({ permissions: { publish: ['public'] } });
  servers.push(s);
  return s;
}

function tabClient(s: TestServer, tab: FakeTab, signal?: AbortSignal): UnisocketClient {
  const client = createClient({
    url: s.url,
    WebSocket: tab.WebSocket,
    reconnect: FAST_RECONNECT,
    shareConnection: {
      BroadcastChannel: tab.BroadcastChannel,
      locks: tab.locks,
      ...(signal === undefined ? {} : { signal }),
    },
  });
  clients.push(client);
  return client;
}

/** Subscribes and records every offset received, to check "each once, in order". */
function record(client: UnisocketClient, channel: string): number[] {
  const offsets: number[] = [];
  client.subscribe(channel).onMessage((m) => offsets.push(m.offset));
  return offsets;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Publishes `count` messages server-side, `everyMs` apart. */
async function publishSeries(s: TestServer, channel: string, count: number, everyMs: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await s.service.broadcast(channel, 'n', i);
    await sleep(everyMs);
  }
}

describe('shareConnection (simulated tabs, real server)', () => {
  it('two tabs share one WebSocket: both receive, a follower publishes through the leader', async () => {
    const s = await start();
    const table = new LockTable();
    const a = tabClient(s, new FakeTab('a', table));
    const b = tabClient(s, new FakeTab('b', table));
    await a.connect();
    await b.connect();
    expect(a.connectionSharing!.getSnapshot().role).toBe('leader');
    await waitFor(() => b.connectionSharing!.getSnapshot().role === 'follower', 2_000, 'b to follow');
    expect(b.connectionSharing!.getSnapshot().leaderId).toBe(a.connectionSharing!.getSnapshot().tabId);
    expect(s.service.getConnectionCount()).toBe(1);
    // both see the one real connection
    expect(b.getSnapshot().connectionId).toBe(a.getSnapshot().connectionId);

    const gotA = record(a, 'news');
    const gotB = record(b, 'news');
    await waitFor(
      () =>
        a.getSnapshot().channels.news?.status === 'subscribed' &&
        b.getSnapshot().channels.news?.status === 'subscribed',
    );
    expect(s.service.getChannelSubscribers('news')).toHaveLength(1);
    await publishSeries(s, 'news', 5, 0);
    await waitFor(() => gotA.length === 5 && gotB.length === 5, 2_000, 'both to receive 5');
    expect(gotA).toEqual(range(1, 5));
    expect(gotB).toEqual(range(1, 5));

    const ack = await b.publish('news', 'say', { from: 'b' });
    expect(ack).toMatchObject({ channel: 'news', offset: 6, duplicate: false });
    await waitFor(() => gotA.length === 6 && gotB.length === 6);
    expect(b.getSnapshot().channels.news?.lastMessage).toMatchObject({ event: 'say', data: { from: 'b' }, offset: 6 });
  });

  it('the server subscription is held while any tab holds the channel and left with the last', async () => {
    const s = await start();
    const table = new LockTable();
    const a = tabClient(s, new FakeTab('a', table));
    const b = tabClient(s, new FakeTab('b', table));
    await Promise.all([a.connect(), b.connect()]);
    const ha = a.subscribe('x');
    const hb = b.subscribe('x');
    await Promise.all([ha.whenSubscribed(), hb.whenSubscribed()]);
    expect(s.service.getChannelSubscribers('x')).toHaveLength(1);
    ha.unsubscribe();
    await sleep(100);
    expect(s.service.getChannelSubscribers('x')).toHaveLength(1);
    await s.service.broadcast('x', 'n', 1);
    await waitFor(() => hb.getSnapshot().offset === 1);
    const epoch = hb.position!.epoch;
    hb.unsubscribe();
    await waitFor(() => s.service.getChannelSubscribers('x').length === 0, 2_000, 'the server subscription to end');
    // a later subscribe from a stored position gets what it missed
    const got: number[] = [];
    const again = a.subscribe('x', { since: { epoch, offset: 0 }, onMessage: (m) => got.push(m.offset) });
    await again.whenSubscribed();
    await waitFor(() => got.length === 1);
    expect(again.getSnapshot()).toMatchObject({ recovered: true, offset: 1 });
    expect(s.service.getChannelSubscribers('x')).toHaveLength(1);
  });

  it('when the leader tab dies, another takes over and nothing is lost (3 tabs, messages flowing)', async () => {
    const s = await start();
    const table = new LockTable();
    const tabs = [new FakeTab('a', table), new FakeTab('b', table), new FakeTab('c', table)];
    const [a, b, c] = tabs.map((t) => tabClient(s, t)) as [UnisocketClient, UnisocketClient, UnisocketClient];
    await a.connect();
    await Promise.all([b.connect(), c.connect()]);
    expect(s.service.getConnectionCount()).toBe(1);
    const gotB = record(b, 'feed');
    const gotC = record(c, 'feed');
    record(a, 'feed');
    await waitFor(
      () =>
        b.getSnapshot().channels.feed?.status === 'subscribed' &&
        c.getSnapshot().channels.feed?.status === 'subscribed',
    );

    const total = 120;
    const publishing = publishSeries(s, 'feed', total, 5);
    await waitFor(() => gotB.length >= 20, 5_000, 'the stream to flow');
    // the leader tab closes (its socket drops, its code stops, its locks pass on)
    tabs[0]!.kill();
    a.disconnect();
    await publishing;
    await waitFor(
      () => gotB.length === total && gotC.length === total,
      10_000,
      `b and c to get all ${total} (b ${gotB.length}, c ${gotC.length})`,
    );
    expect(gotB).toEqual(range(1, total));
    expect(gotC).toEqual(range(1, total));
    const roles = [b, c].map((x) => x.connectionSharing!.getSnapshot().role).sort();
    expect(roles).toEqual(['follower', 'leader']);
    await waitFor(() => s.service.getConnectionCount() === 1, 3_000, 'one connection again');
    expect(b.getSnapshot().channels.feed?.recovered).toBe(true);
    expect(c.getSnapshot().channels.feed?.recovered).toBe(true);
  });

  it('a leader tab that leaves (pagehide / signal) hands over at once; publishes waiting in a follower go out once', async () => {
    const s = await start();
    const table = new LockTable();
    const leaving = new AbortController();
    const a = tabClient(s, new FakeTab('a', table), leaving.signal);
    const b = tabClient(s, new FakeTab('b', table));
    await a.connect();
    await b.connect();
    const gotB = record(b, 'feed');
    await waitFor(() => b.getSnapshot().channels.feed?.status === 'subscribed');
    await s.service.broadcast('feed', 'n', 1);
    await waitFor(() => gotB.length === 1);
    a.disconnect();
    leaving.abort();
    const published = b.publish('feed', 'n', 'from b while the leader moves');
    await s.service.broadcast('feed', 'n', 2);
    const ack = await published;
    await waitFor(() => gotB.length === 3, 5_000, 'b to get 3 messages');
    expect(gotB).toEqual([1, 2, 3]);
    expect(ack.duplicate).toBe(false);
    expect(b.connectionSharing!.getSnapshot().role).toBe('leader');
    expect(s.service.getConnectionCount()).toBe(1);
  });

  it('a follower tab that dies leaves its channels (the leader watches its tab lock)', async () => {
    const s = await start();
    const table = new LockTable();
    const a = tabClient(s, new FakeTab('a', table));
    const tabB = new FakeTab('b', table);
    const b = tabClient(s, tabB);
    await a.connect();
    await b.connect();
    await b.subscribe('only-b').whenSubscribed();
    expect(s.service.getChannelSubscribers('only-b')).toHaveLength(1);
    tabB.kill();
    b.disconnect();
    await waitFor(
      () => s.service.getChannelSubscribers('only-b').length === 0,
      3_000,
      'the dead tab to leave its channel',
    );
    expect(a.getSnapshot().status).toBe('connected');
  });

  it('falls back to its own connection without Web Locks or BroadcastChannel', async () => {
    const s = await start();
    const a = createClient({
      url: s.url,
      WebSocket: new FakeTab('a', new LockTable()).WebSocket,
      shareConnection: true,
    });
    const b = createClient({
      url: s.url,
      WebSocket: new FakeTab('b', new LockTable()).WebSocket,
      shareConnection: { key: 'group' },
    });
    clients.push(a, b);
    // Node has BroadcastChannel; Node 24 also has navigator.locks (Node 20 does not): take Web Locks away
    vi.stubGlobal('navigator', undefined);
    try {
      await Promise.all([a.connect(), b.connect()]);
    } finally {
      vi.unstubAllGlobals();
    }
    expect(a.connectionSharing!.getSnapshot().role).toBe('unsupported');
    expect(b.connectionSharing!.getSnapshot().role).toBe('unsupported');
    expect(s.service.getConnectionCount()).toBe(2);
    const plain = createClient({ url: s.url });
    expect(plain.connectionSharing).toBeNull();
  });

  it('shares a Socket.IO connection the same way', async () => {
    const s = await startServer({ permissions: { publish: ['public'] }, transports: ['native', 'socketio'] });
    servers.push(s);
    const table = new LockTable();
    const sio = (tab: FakeTab): UnisocketClient => {
      const client = createClient({
        url: s.sioUrl,
        transport: 'socketio',
        io: realIo as never,
        reconnect: FAST_RECONNECT,
        shareConnection: { BroadcastChannel: tab.BroadcastChannel, locks: tab.locks },
      });
      clients.push(client);
      return client;
    };
    const a = sio(new FakeTab('a', table));
    const b = sio(new FakeTab('b', table));
    await a.connect();
    await b.connect();
    const gotA = record(a, 'news');
    const gotB = record(b, 'news');
    await waitFor(
      () =>
        b.getSnapshot().channels.news?.status === 'subscribed' &&
        a.getSnapshot().channels.news?.status === 'subscribed',
    );
    expect(s.service.getConnectionCount()).toBe(1);
    expect(s.service.getChannelSubscribers('news').map((x) => x.transport)).toEqual(['socketio']);
    await publishSeries(s, 'news', 3, 0);
    expect((await b.publish('news', 'n', 'from b')).offset).toBe(4);
    await waitFor(() => gotA.length === 4 && gotB.length === 4);
    expect(gotB).toEqual(range(1, 4));
  });

  it('rejects bad shareConnection options with a TypeError', () => {
    expect(() => createClient({ url: 'ws://x/ws', shareConnection: { nope: 1 } as never })).toThrow(
      /shareConnection.nope/,
    );
    expect(() => createClient({ url: 'ws://x/ws', shareConnection: { key: '' } })).toThrow(TypeError);
    expect(() => createClient({ url: 'ws://x/ws', shareConnection: 'yes' as never })).toThrow(TypeError);
  });
});
