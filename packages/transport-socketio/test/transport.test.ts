import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hub, type HubOptions, UnisocketError } from '@unisocket/core';
import { type Socket as ClientSocket, io as ioClient } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type AdmissionCheck, SocketIoTransport, type SocketIoTransportOptions } from '../src/index';

interface Node {
  hub: Hub;
  transport: SocketIoTransport;
  server: Server;
  url: string;
}

const nodes: Node[] = [];
const sockets: ClientSocket[] = [];

async function startNode(hubOptions: HubOptions = {}, options: SocketIoTransportOptions = {}): Promise<Node> {
  const hub = new Hub({ policy: { authorizePublish: () => true }, ...hubOptions });
  await hub.start();
  const transport = new SocketIoTransport(hub, options);
  const server = createServer((_req, res) => res.end('http ok'));
  await transport.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const node = { hub, transport, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  nodes.push(node);
  return node;
}

function connect(node: Node, options: Parameters<typeof ioClient>[1] = {}): ClientSocket {
  const socket = ioClient(node.url, { forceNew: true, reconnection: false, transports: ['websocket'], ...options });
  sockets.push(socket);
  return socket;
}

function collect(socket: ClientSocket, event: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  socket.on(event, (frame: Record<string, unknown>) => out.push(frame));
  return out;
}

const once = <T = Record<string, unknown>>(socket: ClientSocket, event: string): Promise<T> =>
  new Promise((resolve) => socket.once(event, resolve as (value: unknown) => void));

async function until(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const node of nodes.splice(0)) {
    node.transport.close();
    node.hub.close();
    await node.transport.dispose();
    node.server.closeAllConnections();
    await new Promise((resolve) => node.server.close(resolve));
  }
});

/** The server-side ws sender of every Socket.IO connection of a transport, wrapped to record what is written. */
function recordWrites(transport: SocketIoTransport): Buffer[][][] {
  const writes: Buffer[][][] = [];
  for (const socket of transport.io.sockets.sockets.values()) {
    const sender = (
      socket.conn.transport as unknown as { socket: { _sender: { sendFrame(list: Buffer[], cb?: unknown): void } } }
    ).socket._sender;
    const calls: Buffer[][] = [];
    writes.push(calls);
    const original = sender.sendFrame.bind(sender);
    sender.sendFrame = (list, cb) => {
      calls.push(list);
      original(list, cb);
    };
  }
  return writes;
}

describe('SocketIoTransport', () => {
  it('writes one prepared buffer per batch to every WebSocket subscriber: the same bytes, one write each', async () => {
    const node = await startNode();
    const clients = [connect(node), connect(node), connect(node)];
    const received = clients.map((c) => collect(c, 'message'));
    await Promise.all(clients.map((c) => once(c, 'welcome')));
    for (const c of clients) await c.emitWithAck('subscribe', { channel: 'news' });
    const writes = recordWrites(node.transport);
    for (let i = 0; i < 10; i++) void node.hub.publish('news', 'n', i); // one tick: one batch
    await until(() => received.every((r) => r.length === 10));
    expect(writes.map((w) => w.length)).toEqual([1, 1, 1]);
    const first = writes[0]![0]![0]!;
    for (const w of writes) expect(w[0]![0]).toBe(first); // the same Buffer instance: encoded once
    for (const r of received) expect(r.map((m) => m.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('queues behind what engine.io holds (still pre-encoded) and keeps the order', async () => {
    const node = await startNode();
    const client = connect(node);
    const received = collect(client, 'message');
    await once(client, 'welcome');
    await client.emitWithAck('subscribe', { channel: 'news' });
    const [server] = node.transport.io.sockets.sockets.values();
    const engine = server!.conn as unknown as {
      transport: { writable: boolean };
      writeBuffer: unknown[];
      flush(): void;
    };
    // engine.io is waiting for a write to complete: what comes now must wait in its buffer
    engine.transport.writable = false;
    server!.emit('custom', { before: true });
    void node.hub.publish('news', 'n', 1);
    void node.hub.publish('news', 'n', 2);
    await new Promise((r) => setImmediate(r));
    expect(engine.writeBuffer.length).toBe(2);
    const [conn] = node.hub.connections();
    expect(conn!.socket.bufferedBytes).toBeGreaterThan(100);
    void node.hub.publish('news', 'n', 3);
    await new Promise((r) => setImmediate(r));
    engine.transport.writable = true;
    engine.flush();
    await until(() => received.length === 3);
    expect(received.map((m) => m.data)).toEqual([1, 2, 3]);
    expect(conn!.socket.bufferedBytes).toBeLessThan(100);
  });

  it('serves long-polling subscribers with one engine.io packet per message', async () => {
    const node = await startNode();
    const client = connect(node, { transports: ['polling'] });
    const received = collect(client, 'message');
    await once(client, 'welcome');
    await client.emitWithAck('subscribe', { channel: 'news' });
    for (let i = 0; i < 5; i++) void node.hub.publish('news', 'n', i);
    await until(() => received.length === 5);
    expect(received.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5]);
    expect(client.io.engine.transport.name).toBe('polling');
  });

  it('admits through the shared AdmissionCheck with the handshake auth.token; identities reach welcome', async () => {
    const seen: unknown[] = [];
    const admit: AdmissionCheck = async (request, context) => {
      seen.push({ context, hasRequest: typeof request.headers === 'object' });
      if (context.token === 'good') return { identity: { userId: 'u1' }, ip: '10.0.0.7' };
      throw new UnisocketError('UNAUTHORIZED', 'invalid token', { httpStatus: 401, closeCode: 4001 });
    };
    const node = await startNode({}, { admit });
    const good = connect(node, { auth: { token: 'good' } });
    expect(await once(good, 'welcome')).toMatchObject({ type: 'welcome', userId: 'u1' });
    expect([...node.hub.connections()][0]).toMatchObject({ ip: '10.0.0.7', userId: 'u1', transport: 'socketio' });
    expect(await good.emitWithAck('subscribe', { channel: 'user:u1' })).toMatchObject({
      type: 'ack',
      channel: 'user:u1',
    });
    const bad = connect(node, { auth: { token: 'bad' } });
    const error = await once<Error & { data: unknown }>(bad, 'connect_error');
    expect(error.message).toBe('invalid token');
    expect(error.data).toEqual({
      type: 'error',
      code: 'UNAUTHORIZED',
      message: 'invalid token',
      status: 401,
      closeCode: 4001,
    });
    expect(seen).toEqual([
      { context: { transport: 'socketio', token: 'good', ip: '127.0.0.1' }, hasRequest: true },
      { context: { transport: 'socketio', token: 'bad', ip: '127.0.0.1' }, hasRequest: true },
    ]);
    expect(node.transport.refused).toEqual({ 401: 1 });
    await until(() => node.transport.io.engine.clientsCount === 1);
  });

  it('settles every admission exactly once: with the connection, or undefined when the client left first', async () => {
    const settled: (string | undefined)[] = [];
    let delayMs = 0;
    const admit: AdmissionCheck = async () => {
      await new Promise((r) => setTimeout(r, delayMs));
      return { onSettled: (conn) => settled.push(conn?.id) };
    };
    const node = await startNode({}, { admit });
    const a = connect(node);
    await once(a, 'welcome');
    expect(settled).toEqual([[...node.hub.connections()][0]!.id]);
    // a client that goes away while its admission runs
    delayMs = 200;
    const b = connect(node);
    await new Promise((r) => setTimeout(r, 50));
    b.io.engine.close();
    await until(() => settled.length === 2, 2000);
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toEqual([settled[0], undefined]);
    expect(node.hub.connectionCount).toBe(1);
  });

  it('maps close codes: a close event, then transport close (reconnect) or io server disconnect (stay down)', async () => {
    const node = await startNode();
    const a = connect(node);
    const b = connect(node);
    await Promise.all([once(a, 'welcome'), once(b, 'welcome')]);
    const [ca, cb] = [...node.hub.connections()];
    const closes = [collect(a, 'close'), collect(b, 'close')];
    const reasons = [once<string>(a, 'disconnect'), once<string>(b, 'disconnect')];
    const disconnects: [string, number, string][] = [];
    node.hub.on('disconnect', (conn, code, reason) => disconnects.push([conn.id, code, reason]));
    node.hub.disconnect(ca!, 4503, 'overloaded');
    node.hub.disconnect(cb!, 4001, 'token expired');
    expect(await reasons[0]).toBe('transport close');
    expect(await reasons[1]).toBe('io server disconnect');
    expect(closes).toEqual([
      [{ type: 'close', code: 4503, reason: 'overloaded' }],
      [{ type: 'close', code: 4001, reason: 'token expired' }],
    ]);
    await until(() => disconnects.length === 2);
    expect(disconnects).toEqual(
      expect.arrayContaining([
        [ca!.id, 4503, 'overloaded'],
        [cb!.id, 4001, 'token expired'],
      ]),
    );
    expect(node.transport.size).toBe(0);
  });

  it('reports client-side disconnects to the Hub and keeps serving plain HTTP', async () => {
    const node = await startNode();
    const a = connect(node);
    await once(a, 'welcome');
    const done = new Promise<[number, string]>((resolve) =>
      node.hub.once('disconnect', (_c, code, reason) => resolve([code, reason])),
    );
    a.disconnect();
    expect(await done).toEqual([1000, 'client namespace disconnect']);
    expect(await fetch(`${node.url}/anything`).then((r) => r.text())).toBe('http ok');
  });

  it('stops taking upgrades on close() and gives the HTTP server back its listeners on dispose()', async () => {
    const node = await startNode();
    const requestListeners = node.server.listeners('request').length;
    const client = connect(node);
    await once(client, 'welcome');
    node.transport.close();
    // a late WebSocket upgrade is not left hanging: with no upgrade listener left, Node drops it
    const late = new WebSocket(`${node.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    const failed = await new Promise<boolean>((resolve) => {
      late.on('open', () => resolve(false));
      late.on('error', () => resolve(true));
    });
    expect(failed).toBe(true);
    expect(node.server.listenerCount('upgrade')).toBe(0);
    node.hub.close();
    await node.transport.dispose();
    expect(node.server.listeners('request').length).toBe(requestListeners);
    expect(await fetch(`${node.url}/socket.io/?EIO=4&transport=polling`).then((r) => r.text())).toBe('http ok');
    expect(node.server.listenerCount('close')).toBe(0);
  });

  it('refuses bad options with TypeErrors', async () => {
    const hub = new Hub();
    expect(() => new SocketIoTransport(hub, { path: 'x' })).toThrow(/path must start/);
    expect(() => new SocketIoTransport(hub, { path: '/a', serverOptions: { path: '/b' } })).toThrow(/differ/);
    expect(() => new SocketIoTransport(hub, { serverOptions: { perMessageDeflate: true } })).toThrow(
      /perMessageDeflate/,
    );
    expect(() => new SocketIoTransport(hub, { serverOptions: { connectionStateRecovery: {} } })).toThrow(
      /connectionStateRecovery/,
    );
    expect(() => new SocketIoTransport(hub, { serverOptions: { maxHttpBufferSize: 10 } })).toThrow(/maxHttpBufferSize/);
    expect(() => new SocketIoTransport(hub, { redisAdapter: {} })).toThrow(/url or both/);
    expect(() => new SocketIoTransport(hub, { redisAdapter: { url: 'http://x' } })).toThrow(/redis:\/\//);
    expect(() => new SocketIoTransport(hub, { forceCloseMs: -1 })).toThrow(/forceCloseMs/);
    hub.close();
  });
});
