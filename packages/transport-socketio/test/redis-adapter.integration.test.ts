import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hub } from '@unisocket/core';
import { requireService } from '@unisocket/services';
import { type Socket as ClientSocket, io as ioClient } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketIoTransport, createRedisAdapter } from '../src/index';

const REDIS_URL = `redis://127.0.0.1:${process.env.REDIS_PORT ?? 6379}`;
const available = await requireService('redis');

interface Node {
  hub: Hub;
  transport: SocketIoTransport;
  server: Server;
  url: string;
}
const nodes: Node[] = [];
const sockets: ClientSocket[] = [];

async function startNode(sharded: boolean | 'auto', channelPrefix: string): Promise<Node> {
  const hub = new Hub();
  await hub.start();
  const transport = new SocketIoTransport(hub, { redisAdapter: { url: REDIS_URL, sharded, channelPrefix } });
  const server = createServer();
  await transport.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const node = { hub, transport, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  nodes.push(node);
  return node;
}

async function connect(node: Node): Promise<ClientSocket> {
  const socket = ioClient(node.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
  sockets.push(socket);
  await new Promise((resolve) => socket.once('welcome', resolve));
  return socket;
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

describe.skipIf(!available)('the Redis adapter: the application’s own Socket.IO calls across two servers', () => {
  for (const sharded of ['auto', false] as const) {
    it(`io.to(room).emit, fetchSockets and serverSideEmit reach the other node (sharded: ${String(sharded)})`, async () => {
      const prefix = `unisocket-test-${Math.random().toString(36).slice(2)}`;
      const a = await startNode(sharded, prefix);
      const b = await startNode(sharded, prefix);
      if (sharded === 'auto') {
        // Redis 7 here: the sharded adapter (SPUBLISH/SSUBSCRIBE)
        expect(a.transport.redisAdapter).toEqual({ sharded: true, redisVersion: expect.stringMatching(/^7\./) });
      } else {
        expect(a.transport.redisAdapter?.sharded).toBe(false);
      }
      for (const node of [a, b]) node.transport.io.on('connection', (socket) => void socket.join('room-101'));
      const onA = await connect(a);
      const onB = await connect(b);
      // subscriptions reach Redis asynchronously
      await new Promise((r) => setTimeout(r, 200));

      const got: unknown[] = [];
      onB.on('custom', (data: unknown) => got.push(data));
      onA.on('custom', (data: unknown) => got.push(data));
      a.transport.io.to('room-101').emit('custom', { from: 'a' });
      await until(() => got.length === 2);
      expect(got).toEqual([{ from: 'a' }, { from: 'a' }]);

      const all = await a.transport.io.fetchSockets();
      expect(all.map((s) => s.id).sort()).toEqual([onA.id, onB.id].sort());

      const heard = new Promise<unknown>((resolve) => b.transport.io.on('hello', resolve));
      a.transport.io.serverSideEmit('hello', { node: 'a' });
      expect(await heard).toEqual({ node: 'a' });
      expect(await a.transport.io.of('/').adapter.serverCount()).toBe(2);
    });
  }

  it('fails attach with UNAVAILABLE when Redis cannot be reached, and validates its options', async () => {
    await expect(createRedisAdapter({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 500 })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('cannot reach Redis at redis://127.0.0.1:1'),
    });
    await expect(createRedisAdapter({ url: 'redis://127.0.0.1:6379', pubClient: {} })).rejects.toThrow(TypeError);
  });
});

async function until(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
