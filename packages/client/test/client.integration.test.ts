import { afterEach, describe, expect, it } from 'vitest';
import type { GapInfo } from '../src/index';
import { TrackedWebSocket, type TestServer, cleanupClients, sleep, startServer, testClient, waitFor } from './helpers';

const servers: TestServer[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  cleanupClients();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Kills the server side of a client's connection the way the server drops a slow consumer. */
function dropOnServer(s: TestServer, connectionId: string | null, code = 4008): void {
  const conn = connectionId === null ? undefined : s.service.hub.getConnection(connectionId);
  if (conn === undefined) throw new Error(`no server connection ${String(connectionId)}`);
  s.service.hub.disconnect(conn, code, 'test');
}

describe('client against a real server', () => {
  it('connects and handles welcome', async () => {
    const s = await start();
    const client = testClient(s.url);
    const seen: string[] = [];
    client.store.subscribe(() => seen.push(client.store.getSnapshot().status));
    await client.connect();
    const snap = client.getSnapshot();
    expect(snap).toMatchObject({ status: 'connected', userId: null, attempt: 0, lastError: null });
    expect(s.service.hub.getConnection(snap.connectionId!)).toBeDefined();
    await sleep(0);
    expect(seen).toContain('connected');
  });

  it('subscribes and receives server broadcasts, typed and in order', async () => {
    const s = await start();
    const client = testClient(s.url);
    await client.connect();
    const got: string[] = [];
    const news = client.subscribe<{ update: { title: string } }>('news', {
      events: { update: (d) => got.push(d.title) },
    });
    await news.whenSubscribed();
    for (let i = 1; i <= 20; i++) await s.service.broadcast('news', 'update', { title: `t${i}` });
    await waitFor(() => got.length === 20);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `t${i + 1}`));
    expect(news.getSnapshot()).toMatchObject({
      status: 'subscribed',
      offset: 20,
      lastMessage: { event: 'update', data: { title: 't20' } },
    });
  });

  it('publishes with an ack; subscribers receive it once', async () => {
    const s = await start({ permissions: { publish: ['public'] } });
    const a = testClient(s.url);
    const b = testClient(s.url);
    await Promise.all([a.connect(), b.connect()]);
    const received: unknown[] = [];
    await b.subscribe('chat.lobby', { onMessage: (m) => received.push(m.data) }).whenSubscribed();
    const ack = await a.publish('chat.lobby', 'say', { text: 'hi' });
    expect(ack).toMatchObject({ channel: 'chat.lobby', offset: 1, duplicate: false });
    expect(ack.id).toMatch(/^c_[A-Za-z0-9]{16}\.0$/);
    await waitFor(() => received.length === 1);
    await sleep(30);
    expect(received).toEqual([{ text: 'hi' }]);
    expect(a.getSnapshot().pendingPublishes).toBe(0);
  });

  it('rejects with the error frame carrying the right code', async () => {
    const s = await start({ permissions: { publish: ['chat.*'] }, limits: { maxDepth: 4 } });
    const client = testClient(s.url);
    await client.connect();
    await expect(client.publish('news', 'say', 1)).rejects.toMatchObject({
      name: 'UnisocketError',
      code: 'FORBIDDEN',
      channel: 'news',
    });
    // nested deeper than the server's limits.maxDepth
    await expect(client.publish('chat.x', 'say', { a: { b: { c: { d: { e: 1 } } } } })).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      message: /nested deeper/,
    });
    const priv = client.subscribe('private-room');
    await expect(priv.whenSubscribed()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(client.getSnapshot().channels['private-room']).toMatchObject({
      status: 'error',
      error: { code: 'FORBIDDEN' },
    });
    await expect(client.presence('presence-room')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // the connection survived every error
    expect((await client.publish('chat.x', 'say', 'ok')).offset).toBe(1);
    expect(client.getSnapshot().status).toBe('connected');
  });

  it('recovers after its socket is killed mid-stream: every message exactly once, in order', async () => {
    const s = await start({ history: { size: 1_000 } });
    const client = testClient(s.url);
    await client.connect();
    const offsets: number[] = [];
    const data: unknown[] = [];
    const gaps: GapInfo[] = [];
    client.on('gap', (g) => gaps.push(g));
    await client.subscribe('feed', { onMessage: (m) => (offsets.push(m.offset), data.push(m.data)) }).whenSubscribed();
    const total = 600;
    let kills = 0;
    const live = () => client.getSnapshot().channels.feed?.status === 'subscribed';
    for (let i = 1; i <= total; i++) {
      await s.service.broadcast('feed', 'tick', { i });
      if (i % 10 === 0) await sleep(1);
      if (i === 150 || i === 400) {
        await waitFor(live, 5_000, 'the subscription to be live again');
        // the network drops: the client's socket dies without a close handshake, while the server keeps publishing
        TrackedWebSocket.latestOpen()!.terminate();
        kills++;
      }
      if (i === 275) {
        await waitFor(live, 5_000, 'the subscription to be live again');
        // the server drops the client as a slow consumer
        dropOnServer(s, client.getSnapshot().connectionId);
        kills++;
      }
    }
    await waitFor(() => offsets.length >= total, 10_000, `${total} messages (have ${offsets.length})`);
    await sleep(50);
    expect(kills).toBe(3);
    expect(offsets).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(data).toEqual(Array.from({ length: total }, (_, i) => ({ i: i + 1 })));
    expect(gaps).toEqual([]);
    expect(client.stats.reconnects).toBeGreaterThanOrEqual(3);
    expect(client.getSnapshot().channels.feed).toMatchObject({ status: 'subscribed', recovered: true, offset: total });
  });

  it('a publish whose ack was lost is re-sent with the same id after reconnecting and not duplicated', async () => {
    const s = await start({ permissions: { publish: ['public'] } });
    const watcher = testClient(s.url);
    await watcher.connect();
    const seen: unknown[] = [];
    await watcher.subscribe('orders', { onMessage: (m) => seen.push(m.data) }).whenSubscribed();

    const client = testClient(s.url);
    await client.connect();
    const socket = TrackedWebSocket.latestOpen()!;
    // from now on the client hears nothing on this socket: the ack is lost on the way
    socket.removeAllListeners('message');
    const pending = client.publish('orders', 'created', { n: 1 });
    await waitFor(() => seen.length === 1, 5_000, 'the server to publish the order');
    socket.terminate();
    const ack = await pending;
    expect(ack).toMatchObject({ channel: 'orders', offset: 1, duplicate: true });
    expect(client.stats.publishesResent).toBe(1);
    await watcher.publish('orders', 'created', { n: 2 }).catch(() => undefined);
    await waitFor(() => seen.length >= 2);
    await sleep(50);
    expect(seen).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('queues publishes while offline in a bounded queue, flushed in order on connect', async () => {
    const s = await start({ permissions: { publish: ['public'] } });
    const client = testClient(s.url, { maxQueuedPublishes: 3 });
    const queued = [client.publish('q', 'e', 1), client.publish('q', 'e', 2), client.publish('q', 'e', 3)];
    await expect(client.publish('q', 'e', 4)).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
      message: /offline publish queue is full \(3/,
    });
    expect(client.getSnapshot().pendingPublishes).toBe(3);
    await client.connect();
    const acks = await Promise.all(queued);
    expect(acks.map((a) => a.offset)).toEqual([1, 2, 3]);
    expect(client.getSnapshot().pendingPublishes).toBe(0);
    // connected: no queue bound applies to publishes that go out at once
    const more = await Promise.all([4, 5, 6, 7].map((n) => client.publish('q', 'e', n)));
    expect(more.map((a) => a.offset)).toEqual([4, 5, 6, 7]);
  });

  it('after a server shutdown (1001) reconnects to the new server on the same port and resubscribes', async () => {
    const s1 = await start({ permissions: { publish: ['public'] } });
    const client = testClient(s1.url);
    await client.connect();
    const got: unknown[] = [];
    const gaps: GapInfo[] = [];
    const closes: number[] = [];
    client.on('disconnected', (d) => closes.push(d.code));
    const news = client.subscribe('news', { onMessage: (m) => got.push(m.data), onGap: (g) => gaps.push(g) });
    await news.whenSubscribed();
    await s1.service.broadcast('news', 'n', 'before');
    await waitFor(() => got.length === 1);
    const firstConnection = client.getSnapshot().connectionId;
    await s1.close();
    // 1001, then failed attempts (1006) while nothing listens on the port
    expect(closes[0]).toBe(1001);
    expect(client.getSnapshot().status).toBe('reconnecting');
    const s2 = await start({ permissions: { publish: ['public'] } }, s1.port);
    await waitFor(
      () => client.getSnapshot().channels.news?.status === 'subscribed',
      10_000,
      'resubscribed on the new server',
    );
    expect(client.getSnapshot().connectionId).not.toBe(firstConnection);
    // a new server has a new history: the client learns it may have missed messages
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ channel: 'news', reason: 'not-recovered' });
    expect(news.getSnapshot().recovered).toBe(false);
    await s2.service.broadcast('news', 'n', 'after');
    await waitFor(() => got.length === 2);
    expect(got).toEqual(['before', 'after']);
  });

  it('keeps subscriptions across disconnect() and connect(), recovering what was missed meanwhile', async () => {
    const s = await start();
    const client = testClient(s.url);
    await client.connect();
    const got: number[] = [];
    await client.subscribe('news', { onMessage: (m) => got.push(m.offset) }).whenSubscribed();
    await s.service.broadcast('news', 'n', 1);
    await waitFor(() => got.length === 1);
    client.disconnect();
    expect(client.getSnapshot().status).toBe('disconnected');
    await expect(client.publish('news', 'x')).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /connect\(\)/ });
    await s.service.broadcast('news', 'n', 2);
    await s.service.broadcast('news', 'n', 3);
    await client.connect();
    await waitFor(() => got.length === 3);
    expect(got).toEqual([1, 2, 3]);
    expect(client.getSnapshot().channels.news!.recovered).toBe(true);
  });

  it('reconnects with backoff after 4029 and 4503 closes', async () => {
    const s = await start();
    const client = testClient(s.url);
    await client.connect();
    const closes: { code: number; willReconnect: boolean }[] = [];
    client.on('disconnected', ({ code, willReconnect }) => closes.push({ code, willReconnect }));
    for (const code of [4029, 4503]) {
      const before = client.getSnapshot().connectionId;
      dropOnServer(s, before, code);
      await waitFor(
        () => client.getSnapshot().status === 'connected' && client.getSnapshot().connectionId !== before,
        5_000,
        `reconnect after ${code}`,
      );
    }
    expect(closes).toEqual([
      { code: 4029, willReconnect: true },
      { code: 4503, willReconnect: true },
    ]);
  });

  it('stops at disconnected, without retrying, when the server refuses by policy (1008)', async () => {
    const s = await start();
    const client = testClient(s.url);
    await client.connect();
    dropOnServer(s, client.getSnapshot().connectionId, 1008);
    await waitFor(() => client.getSnapshot().status === 'disconnected');
    expect(client.getSnapshot().lastError).toMatchObject({ code: 'FORBIDDEN', closeCode: 1008 });
    await sleep(200);
    expect(s.service.getConnectionCount()).toBe(0);
  });
});
