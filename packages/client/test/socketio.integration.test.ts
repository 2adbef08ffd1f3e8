import { io as realIo } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { signConnectionToken } from '@unisocket/server';
import {
  type SocketIoConnect,
  type UnisocketClient,
  type UnisocketClientOptions,
  createClient,
  socketioTransport,
} from '../src/index';
import { FAST_RECONNECT, type TestServer, cleanupClients, sleep, startServer, testClient, waitFor } from './helpers';

const servers: TestServer[] = [];
const clients: UnisocketClient[] = [];
const both = { transports: ['native', 'socketio'] } as { transports: ('native' | 'socketio')[] };

async function start(options: Parameters<typeof startServer>[0] = {}, port?: number): Promise<TestServer> {
  const s = await startServer({ ...both, ...options }, port);
  servers.push(s);
  return s;
}

/** socket.io-client's sockets as the client creates them, so a test can cut one like a network failure. */
function trackedIo(): { io: SocketIoConnect; sockets: ReturnType<typeof realIo>[] } {
  const sockets: ReturnType<typeof realIo>[] = [];
  const io = ((uri: string, options: Record<string, unknown>) => {
    const socket = realIo(uri, options);
    sockets.push(socket);
    return socket;
  }) as unknown as SocketIoConnect;
  return { io, sockets };
}

function sioClient(s: TestServer, options: Partial<UnisocketClientOptions> = {}): UnisocketClient {
  const client = createClient({ url: s.sioUrl, transport: 'socketio', reconnect: FAST_RECONNECT, ...options });
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  cleanupClients();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe("client with transport: 'socketio' against a real server", () => {
  it('connects, subscribes, publishes with an ack and receives in order, across transports', async () => {
    const s = await start({ permissions: { publish: ['public'] } });
    const a = sioClient(s);
    const b = testClient(s.url); // native
    await Promise.all([a.connect(), b.connect()]);
    expect(a.getSnapshot()).toMatchObject({ status: 'connected', userId: null });
    expect(s.service.getChannelSubscribers('x')).toEqual([]);
    const gotA: unknown[] = [];
    const gotB: unknown[] = [];
    await a.subscribe('chat.lobby', { onMessage: (m) => gotA.push(m.data) }).whenSubscribed();
    await b.subscribe('chat.lobby', { onMessage: (m) => gotB.push(m.data) }).whenSubscribed();
    expect(
      s.service
        .getChannelSubscribers('chat.lobby')
        .map((x) => x.transport)
        .sort(),
    ).toEqual(['native', 'socketio']);
    const ack = await a.publish('chat.lobby', 'say', { from: 'socketio' });
    expect(ack).toMatchObject({ channel: 'chat.lobby', offset: 1, duplicate: false });
    await b.publish('chat.lobby', 'say', { from: 'native' });
    for (let i = 0; i < 20; i++) await s.service.broadcast('chat.lobby', 'say', i);
    await waitFor(() => gotA.length === 22 && gotB.length === 22);
    expect(gotA).toEqual(gotB);
    expect(gotA.slice(0, 2)).toEqual([{ from: 'socketio' }, { from: 'native' }]);
    // a retried publish with the same id is not published twice
    const again = await a.publish('chat.lobby', 'say', { from: 'socketio' }, { id: ack.id });
    expect(again).toMatchObject({ offset: 1, duplicate: true });
  });

  it('rejects with the error the server put in the acknowledgement', async () => {
    const s = await start({ permissions: { publish: ['chat.*'] }, limits: { maxDepth: 4 } });
    const client = sioClient(s);
    await client.connect();
    await expect(client.publish('news', 'say', 1)).rejects.toMatchObject({
      name: 'UnisocketError',
      code: 'FORBIDDEN',
      channel: 'news',
    });
    await expect(client.publish('chat.x', 'say', { a: { b: { c: { d: { e: 1 } } } } })).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    await expect(client.subscribe('private-room').whenSubscribed()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(client.presence('presence-room')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(client.getSnapshot().status).toBe('connected');
  });

  it('recovers what it missed after the network drops and after a 4008 slow-consumer close: once, in order', async () => {
    const s = await start();
    const tracked = trackedIo();
    const client = sioClient(s, { io: tracked.io });
    await client.connect();
    const got: number[] = [];
    await client.subscribe<{ n: number }>('news', { events: { n: (d) => got.push(d) } }).whenSubscribed();
    for (let i = 1; i <= 5; i++) await s.service.broadcast('news', 'n', i);
    await waitFor(() => got.length === 5);
    // the network drops under the client: no close handshake, no Socket.IO disconnect packet
    const engine = tracked.sockets.at(-1)!.io.engine as unknown as {
      transport: { ws: { _socket: { destroy(): void } } };
    };
    engine.transport.ws._socket.destroy();
    for (let i = 6; i <= 10; i++) await s.service.broadcast('news', 'n', i);
    await waitFor(
      () => got.length === 10 && client.getSnapshot().status === 'connected',
      5_000,
      'recovery after the drop',
    );
    // the server drops it as a slow consumer: close event 4008, transport close
    const conn = s.service.hub.getConnection(client.getSnapshot().connectionId!)!;
    const closes: number[] = [];
    client.on('disconnected', (e) => closes.push(e.code));
    s.service.hub.disconnect(conn, 4008, 'test: slow consumer');
    for (let i = 11; i <= 15; i++) await s.service.broadcast('news', 'n', i);
    await waitFor(() => got.length === 15 && client.getSnapshot().status === 'connected', 5_000, 'recovery after 4008');
    await sleep(50);
    expect(got).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(closes).toEqual([4008]);
    expect(client.stats).toMatchObject({ duplicates: 0, gaps: 0 });
    expect(client.stats.reconnects).toBe(2);
  });

  it('reconnects to a restarted server after a 1001 shutdown and recovers (or reports the gap honestly)', async () => {
    const s = await start();
    const client = sioClient(s);
    await client.connect();
    const gaps: unknown[] = [];
    client.on('gap', (g) => gaps.push(g));
    await client.subscribe('news').whenSubscribed();
    const closes: number[] = [];
    client.on('disconnected', (e) => closes.push(e.code));
    await s.close();
    servers.splice(servers.indexOf(s), 1);
    await waitFor(() => closes.length >= 1, 5_000, 'the client to see the shutdown');
    const again = await start({}, s.port);
    await waitFor(() => client.getSnapshot().status === 'connected', 10_000, 'reconnect to the restarted server');
    expect(closes[0]).toBe(1001);
    await again.service.broadcast('news', 'n', 1);
    await waitFor(() => client.getSnapshot().channels.news?.offset === 1);
    // a new server has a new history: the client says it could not recover
    expect(gaps).toHaveLength(1);
  });

  it('stays connected while idle: engine.io heartbeats count as the server’s pings', async () => {
    const s = await start({ heartbeatMs: 200 });
    const client = sioClient(s);
    await client.connect();
    const id = client.getSnapshot().connectionId;
    await sleep(1_200); // the client's heartbeat timeout is 2 × 200 + 1000 ms
    expect(client.getSnapshot()).toMatchObject({ status: 'connected', connectionId: id });
  });

  it('authenticates with getToken (auth after welcome), answers refresh, and takes the user channel', async () => {
    const secret = 'test-secret-that-is-at-least-32-bytes-long';
    const s = await start({
      auth: { jwt: { secret, clockToleranceSec: 0 }, refreshLeadMs: 1_000, refreshGraceMs: 600 },
    });
    let calls = 0;
    const client = sioClient(s, {
      getToken: () => (calls++, signConnectionToken({ secret, userId: 'u1', expiresIn: 2 })),
    });
    await client.connect();
    expect(client.getSnapshot()).toMatchObject({ status: 'connected', userId: 'u1' });
    const id = client.getSnapshot().connectionId;
    const got: unknown[] = [];
    client.on('message', (m) => got.push(m.data));
    // the token expires in 2 s: the server asks for a refresh, getToken answers, the connection stays
    await sleep(2_500);
    expect(client.getSnapshot()).toMatchObject({ status: 'connected', connectionId: id, userId: 'u1' });
    expect(calls).toBeGreaterThanOrEqual(2);
    await s.service.sendUserNotification('u1', { n: 1 });
    await waitFor(() => got.length === 1);
  });

  it('with a token required at connect time: refused without one (unauthorized), in with one in the handshake', async () => {
    const secret = 'test-secret-that-is-at-least-32-bytes-long';
    const s = await start({ auth: { jwt: { secret }, required: true } });
    const refused = sioClient(s, { getToken: () => signConnectionToken({ secret, userId: 'u1' }), reconnect: false });
    await expect(refused.connect()).rejects.toMatchObject({ closeCode: 4001 });
    const handshake = socketioTransport({
      options: {
        auth: (cb: (data: object) => void) =>
          void signConnectionToken({ secret, userId: 'u2' }).then((token) => cb({ token })),
      },
    });
    const client = createClient({ url: s.sioUrl, transport: handshake, reconnect: FAST_RECONNECT });
    clients.push(client);
    await client.connect();
    expect(client.getSnapshot()).toMatchObject({ status: 'connected', userId: 'u2' });
  });

  it('reports a connection refused at admission with its close code (4503)', async () => {
    const s = await start({ limits: { maxConnections: 1 } });
    const first = sioClient(s);
    await first.connect();
    const second = sioClient(s, { reconnect: false });
    await expect(second.connect()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(second.getSnapshot().lastError).toMatchObject({ closeCode: 4503 });
  });
});
