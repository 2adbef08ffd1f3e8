import { afterEach, describe, expect, it } from 'vitest';
import { io as ioClient } from 'socket.io-client';
import WebSocket from 'ws';
import { RawClient, SioClient, type TestServer, connectError, startServer, waitFor } from './helpers';

const servers: TestServer[] = [];
const clients: (SioClient | RawClient)[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
async function sio(s: TestServer, options?: ConstructorParameters<typeof SioClient>[1]): Promise<SioClient> {
  const c = await SioClient.open(s.baseUrl, options);
  clients.push(c);
  return c;
}
async function native(s: TestServer): Promise<RawClient> {
  const c = await RawClient.open(s.url);
  clients.push(c);
  return c;
}
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const both = { transports: ['native', 'socketio'] } as { transports: ('native' | 'socketio')[] };

describe('Socket.IO transport with the official socket.io-client', () => {
  it('connects, gets welcome, subscribes with epoch/offset and publishes with an ack', async () => {
    const s = await start({ ...both, permissions: { publish: ['public'] } });
    const a = await sio(s);
    expect(a.events[0]).toEqual({
      event: 'welcome',
      frame: {
        type: 'welcome',
        connectionId: expect.any(String),
        protocol: 1,
        heartbeatMs: 25000,
        userId: null,
        nodeId: s.service.nodeId,
      },
    });
    const sub = await a.request('subscribe', { channel: 'chat.lobby' });
    expect(sub).toEqual({ type: 'ack', channel: 'chat.lobby', epoch: expect.any(String), offset: 0 });
    const pub = await a.request('publish', { channel: 'chat.lobby', event: 'say', data: { text: 'hi' } });
    expect(pub).toEqual({ type: 'ack', channel: 'chat.lobby', id: expect.any(String), offset: 1 });
    const m = await a.next('message');
    expect(m).toEqual({
      type: 'message',
      channel: 'chat.lobby',
      event: 'say',
      data: { text: 'hi' },
      id: pub.id,
      offset: 1,
      ts: expect.any(Number),
    });
    expect(await a.request('unsubscribe', { channel: 'chat.lobby' })).toEqual({ type: 'ack', channel: 'chat.lobby' });
    expect(await a.request('ping')).toEqual({ type: 'pong' });
    expect(s.service.getChannelSubscribers('chat.lobby')).toEqual([]);
    expect(s.service.getStats().activeConnections).toBe(1);
  });

  it('crosses messages between native and Socket.IO subscribers, same order and offsets, once each', async () => {
    const s = await start({ ...both, permissions: { publish: ['public'] } });
    const ws = await native(s);
    const io = await sio(s);
    const polling = await sio(s, { transports: ['polling'] });
    for (const c of [ws]) await c.request({ type: 'subscribe', channel: 'room' });
    for (const c of [io, polling]) await c.request('subscribe', { channel: 'room' });
    // publishes from both transports and from the server, interleaved within ticks
    const acks: number[] = [];
    for (let i = 0; i < 30; i++) {
      if (i % 3 === 0)
        acks.push((await io.request('publish', { channel: 'room', event: 'n', data: i })).offset as number);
      else if (i % 3 === 1)
        acks.push((await ws.request({ type: 'publish', channel: 'room', event: 'n', data: i })).offset as number);
      else acks.push((await s.service.broadcast('room', 'n', i)).offset);
    }
    for (let i = 30; i < 60; i++) void s.service.broadcast('room', 'n', i); // one tick: one batch of 30
    await waitFor(
      () =>
        ws.messages('room').length === 60 &&
        io.messages('room').length === 60 &&
        polling.messages('room').length === 60,
    );
    expect(acks).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const expected = Array.from({ length: 60 }, (_, i) => ({ offset: i + 1, data: i }));
    for (const c of [ws, io, polling]) {
      expect(c.messages('room').map((m) => ({ offset: m.offset, data: m.data }))).toEqual(expected);
    }
    expect(polling.socket.io.engine.transport.name).toBe('polling');
    // the same message objects on both transports
    expect(io.messages('room')).toEqual(ws.messages('room'));
    await new Promise((r) => setTimeout(r, 50));
    expect(io.messages().length + ws.messages().length + polling.messages().length).toBe(180);
  });

  it('recovers after a disconnect: subscribe again with since gets the missed messages once, in order, then live', async () => {
    const s = await start(both);
    const a = await sio(s);
    const sub = await a.request('subscribe', { channel: 'news' });
    for (let i = 1; i <= 5; i++) await s.service.broadcast('news', 'n', i);
    await waitFor(() => a.messages().length === 5);
    // an abrupt loss of the connection (no Socket.IO disconnect packet)
    a.socket.io.engine.close();
    await waitFor(() => s.service.getConnectionCount() === 0);
    for (let i = 6; i <= 9; i++) await s.service.broadcast('news', 'n', i);
    const b = await sio(s);
    const last = a.messages().at(-1)!;
    const ack = await b.request('subscribe', { channel: 'news', since: { epoch: sub.epoch, offset: last.offset } });
    expect(ack).toEqual({ type: 'ack', channel: 'news', epoch: sub.epoch, offset: 9, recovered: true });
    await s.service.broadcast('news', 'n', 10);
    await waitFor(() => b.messages().length === 5);
    expect(b.messages().map((m) => m.data)).toEqual([6, 7, 8, 9, 10]);
    expect(b.messages().map((m) => m.offset)).toEqual([6, 7, 8, 9, 10]);
    const stale = await b.request('subscribe', { channel: 'other', since: { epoch: 'gone', offset: 3 } });
    expect(stale).toMatchObject({ type: 'ack', channel: 'other', recovered: false });
  });

  it('answers every bad command through the acknowledgement, and keeps the connection', async () => {
    const s = await start({ ...both, limits: { maxPayloadBytes: 1024 } });
    const a = await sio(s);
    const bad = async (event: string, payload?: unknown): Promise<Record<string, unknown>> => a.request(event, payload);
    expect(await bad('subscribe', 'news')).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: expect.stringContaining('one JSON object'),
    });
    expect(await bad('subscribe', ['news'])).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(await bad('subscribe', null)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(await bad('subscribe', {})).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: '"channel" must be a string',
    });
    expect(await bad('subscribe', { channel: 'bad name!' })).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: expect.stringContaining('invalid channel name'),
    });
    expect(await bad('subscribe', { channel: '*' })).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(await bad('subscribe', { channel: 'x', since: { epoch: 1 } })).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: expect.stringContaining('since'),
    });
    expect(await bad('publish', { channel: 'x' })).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: expect.stringContaining('event'),
    });
    expect(await bad('teleport', { channel: 'x' })).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: expect.stringContaining('unknown event "teleport"'),
    });
    expect(await bad('subscribe', { channel: 'private-secrets' })).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
      channel: 'private-secrets',
    });
    expect(await bad('subscribe', { channel: 'user:u1' })).toMatchObject({
      type: 'error',
      code: 'UNAUTHORIZED',
      channel: 'user:u1',
    });
    expect(await bad('publish', { channel: 'x', event: 'e', data: 1 })).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
      channel: 'x',
    });
    expect(await bad('presence', { channel: 'room' })).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: expect.stringContaining('not a presence channel'),
    });
    expect(await bad('auth', { token: 'abc' })).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    expect(await bad('publish', { channel: 'x', event: 'e', data: 'y'.repeat(1500) })).toMatchObject({
      type: 'error',
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect(await bad('publish', { channel: 'x', event: 'e', data: Buffer.from('binary') })).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: expect.stringContaining('binary'),
    });
    let nested: unknown = 1;
    for (let i = 0; i < 40; i++) nested = [nested];
    expect(await bad('publish', { channel: 'x', event: 'e', data: nested })).toMatchObject({
      type: 'error',
      code: 'PAYLOAD_TOO_LARGE',
    });
    // without an acknowledgement callback the error comes as an `error` event
    a.socket.emit('subscribe', { channel: 'news' });
    expect(await a.next('error')).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: expect.stringContaining('acknowledgement callback'),
    });
    expect(a.socket.connected).toBe(true);
    expect(await a.request('subscribe', { channel: 'news' })).toMatchObject({ type: 'ack', channel: 'news' });
    expect(s.service.hub.stats.errors).toMatchObject({
      BAD_REQUEST: 12,
      FORBIDDEN: 2,
      UNAUTHORIZED: 2,
      PAYLOAD_TOO_LARGE: 2,
    });
  });

  it('rate-limits through the acknowledgement, then closes with 4029 (close event, io server disconnect)', async () => {
    const s = await start({ ...both, limits: { messagesPerSecond: 2 } });
    const a = await sio(s);
    const replies = await Promise.all(Array.from({ length: 6 }, () => a.request('ping')));
    expect(replies.filter((r) => r.type === 'pong')).toHaveLength(4);
    expect(replies.filter((r) => r.type === 'error')).toEqual([
      expect.objectContaining({ code: 'RATE_LIMITED' }),
      expect.objectContaining({ code: 'RATE_LIMITED' }),
    ]);
    expect(a.socket.connected).toBe(true);
    // keep going: a second's worth of refusals more and the server ends the connection
    for (let i = 0; i < 5; i++) a.socket.emit('ping', () => {});
    expect(await a.next('close')).toEqual({ type: 'close', code: 4029, reason: expect.stringContaining('rate limit') });
    expect(await a.waitDisconnect()).toBe('io server disconnect');
  });

  it('drops a connection whose packets exceed maxHttpBufferSize (engine.io), other clients unaffected', async () => {
    const s = await start({ ...both, limits: { maxPayloadBytes: 1024 } });
    const a = await sio(s);
    const b = await sio(s);
    a.socket.emit('publish', { channel: 'x', event: 'e', data: 'y'.repeat(5000) }, () => {});
    expect(await a.waitDisconnect()).toMatch(/transport (close|error)/);
    expect(await b.request('ping')).toEqual({ type: 'pong' });
  });

  it('shares the admission limits with the native transport: per-IP and total connections', async () => {
    const s = await start({ ...both, limits: { maxConnectionsPerIp: 2 } });
    await native(s);
    await sio(s);
    const refused = await connectError(s.baseUrl);
    expect(refused.message).toMatch(/too many connections/);
    expect(refused.data).toEqual({ type: 'error', code: 'LIMIT_EXCEEDED', message: refused.message, status: 429 });
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(s.url);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
    expect(status).toBe(429);
    // the refused client holds nothing on the server
    await waitFor(() => s.service.io.engine.clientsCount === 1, 2000, 'the refused engine.io connection to close');

    const t = await start({ ...both, limits: { maxConnections: 1 } });
    await sio(t);
    const full = await connectError(t.baseUrl);
    expect(full.data).toMatchObject({ code: 'UNAVAILABLE', status: 503, closeCode: 4503 });
  });

  it('coexists with the native transport and other upgrade handlers on one server (destroyUpgrade: false)', async () => {
    const s = await start(both);
    let slowUpgrade = false;
    // another upgrade handler that answers after engine.io's destroyUpgradeTimeout (1 s)
    s.server.on('upgrade', (req, socket) => {
      if (req.url !== '/slow') return;
      setTimeout(() => {
        slowUpgrade = !socket.destroyed;
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      }, 1300);
    });
    const other = new WebSocket(`ws://127.0.0.1:${s.port}/slow`);
    other.on('error', () => {});
    const ws = await native(s);
    const io = await sio(s);
    await waitFor(() => slowUpgrade, 3000, 'the slow upgrade to be answered');
    expect(await ws.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await io.request('ping')).toEqual({ type: 'pong' });
    expect(await fetch(`${s.baseUrl}/health`).then((r) => r.json())).toMatchObject({ status: 'healthy' });
    // Socket.IO serves its browser bundle on its path
    const bundle = await fetch(`${s.baseUrl}/socket.io/socket.io.esm.min.js`);
    expect(bundle.status).toBe(200);
    expect(s.service.getMetrics().transports).toMatchObject({
      native: { connections: 1 },
      socketio: { connections: 1 },
    });
  });

  it('disconnects a Socket.IO client that stops reading with 4008 (bufferedBytes counts engine.io and the socket)', async () => {
    const s = await start({ ...both, limits: { maxBufferedBytes: 64 * 1024 } });
    const slow = await sio(s);
    const fast = await sio(s);
    await slow.request('subscribe', { channel: 'firehose' });
    await fast.request('subscribe', { channel: 'firehose' });
    // the slow client's process stops reading its socket
    const tcp = (slow.socket.io.engine.transport as unknown as { ws: { _socket: { pause(): void; destroy(): void } } })
      .ws._socket;
    tcp.pause();
    // enough to fill the loopback socket buffers (several MB) and then maxBufferedBytes
    const data = 'z'.repeat(60_000);
    for (let i = 0; i < 1000 && s.service.hub.stats.slowConsumers === 0; i++) {
      await s.service.broadcast('firehose', 'n', data);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    await waitFor(() => s.service.hub.stats.slowConsumers === 1, 5000, 'the slow consumer to be closed');
    await waitFor(() => s.service.getConnectionCount() === 1, 7000, 'the slow consumer to be removed');
    expect(fast.socket.connected).toBe(true);
    expect(fast.messages('firehose').length).toBeGreaterThan(0);
    tcp.destroy();
  });

  it('shutdown sends a close event with 1001 and the client sees a transport close (so it reconnects)', async () => {
    const s = await start(both);
    const a = await sio(s);
    const b = await native(s);
    const reason = a.waitDisconnect();
    await s.service.shutdown();
    // the reason carries the reconnect advice (docs/deploys.md): socket.io-client users may read it too
    expect(await a.next('close')).toEqual({
      type: 'close',
      code: 1001,
      reason: expect.stringMatching(/^server shutting down; retry-after-ms=\d+$/),
    });
    expect(await reason).toBe('transport close');
    expect((await b.waitClose()).code).toBe(1001);
    const after = await connectError(s.baseUrl);
    expect(after.message).toMatch(/websocket error|xhr poll error|shutting down/);
  });

  it('exposes service.io for the application’s own Socket.IO code, whose events are not refused', async () => {
    const s = await start(both);
    s.service.io.on('connection', (socket) => {
      socket.join('room-101');
      socket.on('echo', (text: string, ack: (reply: string) => void) => ack(`echo: ${text}`));
    });
    const a = await sio(s);
    expect(await a.request('echo', 'hello')).toBe('echo: hello');
    s.service.io.to('room-101').emit('custom', { n: 1 });
    expect(await a.next('custom')).toEqual({ n: 1 });
    expect((await s.service.io.fetchSockets()).length).toBe(1);
    expect(a.events.filter((e) => e.event === 'error')).toEqual([]);
  });

  it("adapter: 'socketio' alone serves Socket.IO on a custom path and no native endpoint", async () => {
    const s = await start({ adapter: 'socketio', socketio: { path: '/rt' } });
    const a = await sio(s, { path: '/rt' });
    expect(await a.request('subscribe', { channel: 'news' })).toMatchObject({ type: 'ack' });
    // upgrades on /ws are nobody's here: they are left to the server's other upgrade handlers
    let unclaimed = false;
    s.server.on('upgrade', (req, socket) => {
      if (req.url !== '/ws') return;
      setTimeout(() => {
        unclaimed = socket.writable && (socket as unknown as { bytesWritten: number }).bytesWritten === 0;
        socket.destroy();
      }, 200);
    });
    const ws = new WebSocket(s.url);
    ws.on('error', () => {});
    await waitFor(() => unclaimed, 2000, 'the /ws upgrade to reach the other handler untouched');
    expect(s.service.transports).toEqual(['socketio']);
  });

  it('refuses contradictory Socket.IO options with TypeErrors that say what to change', async () => {
    const { createUnifiedWebSocketService } = await import('../src/index');
    expect(() => createUnifiedWebSocketService({ socketio: { path: '/rt' } })).toThrow(/add 'socketio' to transports/);
    expect(() => createUnifiedWebSocketService({ ...both, path: '/rt', socketio: { path: '/rt/' } })).toThrow(
      /different paths/,
    );
    expect(() => createUnifiedWebSocketService({ ...both, socketio: { colour: 1 } as never })).toThrow(
      /socketio.colour/,
    );
    expect(() => createUnifiedWebSocketService().io).toThrow(/needs the Socket.IO transport/);
    expect(() => createUnifiedWebSocketService(both).io).toThrow(/initialize/);
    const s = createUnifiedWebSocketService({ ...both, socketio: { serverOptions: { perMessageDeflate: true } } });
    const { createServer } = await import('node:http');
    await expect(s.initialize(createServer())).rejects.toThrow(/perMessageDeflate/);
    // a client that only speaks polling works too, and an HTTP client on the Socket.IO path gets an engine.io answer
    const t = await start(both);
    const res = await fetch(`${t.baseUrl}/socket.io/?EIO=4&transport=polling`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^0\{"sid":/);
    const c = ioClient(t.baseUrl, { forceNew: true, reconnection: false, transports: ['polling'] });
    await new Promise<void>((resolve) => c.once('welcome', () => resolve()));
    c.close();
  });
});
