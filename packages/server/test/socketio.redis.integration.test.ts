import { randomBytes } from 'node:crypto';
import { deleteRedisKeys, requireService } from '@unisocket/services';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RawClient, SioClient, type TestServer, startServer, waitFor } from './helpers';

/** Two nodes on one Redis, each serving both transports: unisocket channels and the application's io calls cross. */
const REDIS_URL = process.env.REDIS_URL ?? `redis://127.0.0.1:${process.env.REDIS_PORT ?? 6379}`;
const available = await requireService('redis');

const servers: TestServer[] = [];
const clients: (SioClient | RawClient)[] = [];
// every Redis key prefix this file hands out, deleted after the suite (SCAN + DEL) so no test: key is left behind
const redisPrefixes: string[] = [];
afterAll(async () => {
  await deleteRedisKeys(redisPrefixes.splice(0), { url: REDIS_URL });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe.skipIf(!available)("transports ['native', 'socketio'] with broker { type: 'redis' }", () => {
  it('messages cross nodes and transports; service.io gets the (sharded) Redis adapter from the broker URL', async () => {
    const keyPrefix = `test:sio:${randomBytes(4).toString('hex')}:`;
    redisPrefixes.push(keyPrefix);
    const options = {
      transports: ['native', 'socketio'] as ('native' | 'socketio')[],
      broker: { type: 'redis' as const, url: REDIS_URL, keyPrefix },
      permissions: { publish: ['public'] },
    };
    const a = await startServer({ ...options, nodeId: 'node-a' });
    servers.push(a);
    const b = await startServer({ ...options, nodeId: 'node-b' });
    servers.push(b);

    // unisocket channels: published by a Socket.IO client on A, received by Socket.IO and native clients on B (and A)
    const pubA = await SioClient.open(a.baseUrl);
    const sioB = await SioClient.open(b.baseUrl);
    const wsB = await RawClient.open(b.url);
    clients.push(pubA, sioB, wsB);
    await pubA.request('subscribe', { channel: 'room' });
    await sioB.request('subscribe', { channel: 'room' });
    await wsB.request({ type: 'subscribe', channel: 'room' });
    for (let i = 1; i <= 10; i++)
      expect(await pubA.request('publish', { channel: 'room', event: 'n', data: i })).toMatchObject({ offset: i });
    await waitFor(
      () =>
        sioB.messages('room').length === 10 &&
        wsB.messages('room').length === 10 &&
        pubA.messages('room').length === 10,
      5000,
      'cross-node delivery',
    );
    for (const c of [pubA, sioB, wsB])
      expect(c.messages('room').map((m) => m.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    // the application's own Socket.IO code: the Redis adapter (sharded on Redis 7) made from the broker's URL
    const io = a.service.io;
    const adapter = io.of('/').adapter as unknown as { serverCount(): Promise<number> };
    expect(adapter.constructor.name).toMatch(/Redis/);
    for (const s of [a, b]) s.service.io.on('connection', (socket) => void socket.join('app-room'));
    const x = await SioClient.open(a.baseUrl);
    const y = await SioClient.open(b.baseUrl);
    clients.push(x, y);
    await new Promise((r) => setTimeout(r, 200)); // room subscriptions reach Redis asynchronously
    io.to('app-room').emit('custom', { from: 'a' });
    expect(await y.next('custom')).toEqual({ from: 'a' });
    expect(await x.next('custom')).toEqual({ from: 'a' });
    expect(await adapter.serverCount()).toBe(2);
    // every Socket.IO connection of both nodes (the native one is not a Socket.IO socket)
    expect((await b.service.io.fetchSockets()).length).toBe(4);
  });
});
