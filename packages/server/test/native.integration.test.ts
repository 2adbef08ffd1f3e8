import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RawClient, type TestServer, startServer, waitFor } from './helpers';

const servers: TestServer[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('native transport over real sockets', () => {
  it('two clients: subscribe, client publish, both receive once', async () => {
    const s = await start({ permissions: { publish: ['public'] } });
    const a = await RawClient.open(s.url);
    const b = await RawClient.open(s.url);
    expect(a.frames[0]).toMatchObject({ type: 'welcome', protocol: 1, userId: null });
    expect(await a.request({ type: 'subscribe', channel: 'chat.lobby' })).toMatchObject({
      type: 'ack',
      channel: 'chat.lobby',
      offset: 0,
    });
    await b.request({ type: 'subscribe', channel: 'chat.lobby' });
    const ack = await a.request({ type: 'publish', channel: 'chat.lobby', event: 'say', data: { text: 'hi' } });
    expect(ack).toMatchObject({ type: 'ack', channel: 'chat.lobby', offset: 1 });
    for (const c of [a, b]) {
      const m = await c.next((f) => f.type === 'message');
      expect(m).toMatchObject({ channel: 'chat.lobby', event: 'say', data: { text: 'hi' }, offset: 1, id: ack.id });
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(a.messages()).toHaveLength(1);
    a.close();
    b.close();
  });

  it('leaves other upgrade paths to other handlers and serves http alongside', async () => {
    const s = await start();
    let otherUpgrade = false;
    s.server.on('upgrade', (req, socket) => {
      if (req.url === '/other') {
        otherUpgrade = true;
        socket.destroy();
      }
    });
    const other = new WebSocket(`ws://127.0.0.1:${s.port}/other`);
    other.on('error', () => {});
    await waitFor(() => otherUpgrade, 2000, 'the other upgrade handler');
    const health = await fetch(`http://127.0.0.1:${s.port}/health`).then((r) => r.json());
    expect(health).toMatchObject({ status: 'healthy' });
  });

  it('recovers missed messages after the socket is killed mid-stream', async () => {
    const s = await start();
    const a = await RawClient.open(s.url);
    const sub = await a.request({ type: 'subscribe', channel: 'news' });
    for (let i = 1; i <= 5; i++) await s.service.broadcast('news', 'n', i);
    await waitFor(() => a.messages().length === 5);
    a.ws.terminate();
    for (let i = 6; i <= 9; i++) await s.service.broadcast('news', 'n', i);
    const b = await RawClient.open(s.url);
    const ack = await b.request({ type: 'subscribe', channel: 'news', since: { epoch: sub.epoch, offset: 5 } });
    expect(ack).toMatchObject({ recovered: true, offset: 9 });
    await s.service.broadcast('news', 'n', 10);
    await waitFor(() => b.messages().length === 5);
    expect(b.messages().map((m) => m.data)).toEqual([6, 7, 8, 9, 10]);
  });

  it('answers bad frames with errors, keeps the connection, and refuses binary', async () => {
    const s = await start();
    const a = await RawClient.open(s.url);
    a.send('garbage');
    a.send(Buffer.from([1, 2, 3]));
    a.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
    await waitFor(() => a.frames.filter((f) => f.type === 'error').length === 3);
    expect(await a.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(a.closed).toBeUndefined();
  });

  it('closes with 1009 for frames over maxPayloadBytes', async () => {
    const s = await start({ limits: { maxPayloadBytes: 1024 } });
    const a = await RawClient.open(s.url);
    a.send({ type: 'publish', channel: 'x', event: 'e', data: 'y'.repeat(5000) });
    expect((await a.waitClose()).code).toBe(1009);
  });

  it('refuses upgrades over maxConnectionsPerIp with 429 before the WebSocket exists', async () => {
    const s = await start({ limits: { maxConnectionsPerIp: 1 } });
    await RawClient.open(s.url);
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(s.url);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
    expect(status).toBe(429);
  });

  it('shutdown sends 1001 to every client and is idempotent', async () => {
    const s = await start();
    const clients = await Promise.all([RawClient.open(s.url), RawClient.open(s.url)]);
    await Promise.all([s.service.shutdown(), s.service.shutdown()]);
    for (const c of clients) expect((await c.waitClose()).code).toBe(1001);
    expect(s.service.getHealthStatus().status).toBe('unhealthy');
  });

  it('shutdown advises each client when to reconnect: a random delay within reconnectSpreadMs, per connection', async () => {
    const s = await start({ reconnectSpreadMs: 3_000 });
    const clients = await Promise.all(Array.from({ length: 20 }, () => RawClient.open(s.url)));
    await s.service.shutdown();
    const delays: number[] = [];
    for (const c of clients) {
      const closed = await c.waitClose();
      expect(closed.code).toBe(1001);
      const match = /^server shutting down; retry-after-ms=(\d+)$/.exec(closed.reason);
      expect(match, closed.reason).not.toBeNull();
      delays.push(Number(match![1]));
    }
    for (const d of delays) expect(d).toBeLessThanOrEqual(3_000);
    expect(new Set(delays).size).toBeGreaterThan(10);

    const quiet = await start({ reconnectSpreadMs: 0 });
    const c = await RawClient.open(quiet.url);
    await quiet.service.shutdown();
    expect(await c.waitClose()).toEqual({ code: 1001, reason: 'server shutting down' });
  });

  it('validates reconnectSpreadMs and recovery with TypeErrors that say what to change', async () => {
    const { createUnifiedWebSocketService } = await import('../src/index');
    expect(() => createUnifiedWebSocketService({ reconnectSpreadMs: -1 })).toThrow(
      /reconnectSpreadMs must be 'auto' or/,
    );
    expect(() => createUnifiedWebSocketService({ reconnectSpreadMs: 'soon' as never })).toThrow(TypeError);
    expect(() => createUnifiedWebSocketService({ recovery: { maxConcurrent: 0 } })).toThrow(/recovery.maxConcurrent/);
    expect(() =>
      createUnifiedWebSocketService({ reconnectSpreadMs: 'auto', recovery: { maxQueued: 10 } }),
    ).not.toThrow();
  });

  it('throws TypeErrors that say what to change for contradictory options', async () => {
    const { createUnifiedWebSocketService } = await import('../src/index');
    expect(() => createUnifiedWebSocketService({ adapter: 'native', transports: ['native', 'socketio'] })).toThrow(
      /contradicts/,
    );
    expect(() => createUnifiedWebSocketService({ transports: ['carrier-pigeon' as 'native'] })).toThrow(TypeError);
    expect(() => createUnifiedWebSocketService({ limits: { maxConnections: 0 } })).toThrow(/limits.maxConnections/);
    expect(() => createUnifiedWebSocketService({ broker: { type: 'mqtt' } as never })).toThrow(/broker.type/);
    expect(() => createUnifiedWebSocketService({ colour: 'blue' } as never)).toThrow(/unknown option "colour"/);
    const service = createUnifiedWebSocketService();
    await expect(service.broadcast('x', 'e', 1)).rejects.toThrow(/initialize/);
    const server = createServer();
    await service.initialize(server);
    await service.shutdown();
  });
});
