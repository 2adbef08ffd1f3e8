import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { deleteRedisKeys } from '@unisocket/services';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RawClient, type TestServer, startServer, waitFor } from './helpers';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisAvailable = await new Promise<boolean>((resolve) => {
  const url = new URL(REDIS_URL);
  const socket = connect({ port: Number(url.port || 6379), host: url.hostname });
  const done = (ok: boolean): void => {
    socket.destroy();
    resolve(ok);
  };
  socket.setTimeout(1000, () => done(false));
  socket.on('error', () => done(false));
  socket.on('connect', () => socket.write('PING\r\n'));
  socket.on('data', (d) => done(d.toString().startsWith('+PONG')));
});
if (!redisAvailable) {
  if (process.env.CI === 'true') throw new Error(`Redis is not reachable at ${REDIS_URL}; CI needs it`);
  console.warn(`⚠ SKIPPING the server's Redis suite: Redis is not reachable at ${REDIS_URL}`);
}

const servers: TestServer[] = [];
// every Redis key prefix this file hands out, deleted after the suite (SCAN + DEL) so no test: key is left behind
const redisPrefixes: string[] = [];
afterAll(async () => {
  await deleteRedisKeys(redisPrefixes.splice(0), { url: REDIS_URL });
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe.skipIf(!redisAvailable)("createUnifiedWebSocketService({ broker: { type: 'redis' } })", () => {
  it('two services on one Redis: cross-node delivery, recovery on the other node, health', async () => {
    const keyPrefix = `test:server:${randomBytes(4).toString('hex')}:`;
    redisPrefixes.push(keyPrefix);
    const broker = { type: 'redis' as const, url: REDIS_URL, keyPrefix };
    const a = await startServer({ broker, nodeId: 'node-a', history: { size: 50 } });
    servers.push(a);
    const b = await startServer({ broker, nodeId: 'node-b', history: { size: 50 } });
    servers.push(b);
    expect(a.service.broker.kind).toBe('redis');
    expect(a.service.broker.nodeId).toBe('node-a');
    expect(a.service.getHealthStatus()).toMatchObject({ status: 'healthy', broker: { kind: 'redis', state: 'ready' } });
    const onB = await RawClient.open(b.url);
    const sub = await onB.request({ type: 'subscribe', channel: 'news' });
    for (let i = 1; i <= 3; i++) await a.service.broadcast('news', 'n', i);
    await waitFor(() => onB.messages().length === 3);
    expect(onB.messages().map((m) => m.data)).toEqual([1, 2, 3]);
    onB.ws.terminate();
    for (let i = 4; i <= 6; i++) await b.service.broadcast('news', 'n', i);
    const onA = await RawClient.open(a.url);
    const ack = await onA.request({ type: 'subscribe', channel: 'news', since: { epoch: sub.epoch, offset: 3 } });
    expect(ack).toMatchObject({ recovered: true, epoch: sub.epoch, offset: 6 });
    await waitFor(() => onA.messages().length === 3);
    expect(onA.messages().map((m) => m.data)).toEqual([4, 5, 6]);
    onA.close();
  });

  it('refuses history given twice, and unknown Redis options at initialize', async () => {
    const { createUnifiedWebSocketService } = await import('../src/index');
    expect(() =>
      createUnifiedWebSocketService({ broker: { type: 'redis', history: { size: 1 } }, history: { size: 2 } }),
    ).toThrow(/either at the top level or in broker.history/);
    await expect(startServer({ broker: { type: 'redis', url: REDIS_URL, bogus: true } })).rejects.toThrow(
      /unknown RedisBroker option "bogus"/,
    );
  });
});
