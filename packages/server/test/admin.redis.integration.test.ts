import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { deleteRedisKeys } from '@unisocket/services';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { UnifiedWebSocketServiceOptions } from '../src/index';
import { RawClient, type TestServer, startServer, waitFor } from './helpers';

/**
 * The admin inspector on two nodes on Redis: each node's connections are its own, channel counts and presence
 * members are cluster-wide, history and publish are shared, and disconnecting a user closes it on both nodes.
 */
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
  console.warn(`⚠ SKIPPING the admin inspector's Redis suite: Redis is not reachable at ${REDIS_URL}`);
}

const TOKEN = 'admin-token-on-redis-0123456789';
const servers: TestServer[] = [];
const clients: RawClient[] = [];
// every Redis key prefix this file hands out, deleted after the suite (SCAN + DEL) so no test: key is left behind
const redisPrefixes: string[] = [];
afterAll(async () => {
  await deleteRedisKeys(redisPrefixes.splice(0), { url: REDIS_URL });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function get(s: TestServer, path: string, init: { method?: string; body?: unknown } = {}) {
  const res = await fetch(`${s.baseUrl}/admin/api/${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe.skipIf(!redisAvailable)('admin inspector on two nodes on Redis', () => {
  it("labels each node's view and shows the cluster's counts, presence and history", { timeout: 30_000 }, async () => {
    const keyPrefix = `test:admin:${randomBytes(4).toString('hex')}:`;
    redisPrefixes.push(keyPrefix);
    const options = (nodeId: string): UnifiedWebSocketServiceOptions => ({
      nodeId,
      broker: { type: 'redis', url: REDIS_URL, keyPrefix },
      admin: { token: TOKEN },
      auth: {
        authenticate: ({ token }) => (token === undefined ? null : { userId: token, info: { name: token } }),
        authorizeChannel: () => true,
      },
    });
    const a = await startServer(options('node-a'));
    servers.push(a);
    const b = await startServer(options('node-b'));
    servers.push(b);
    const open = async (s: TestServer, user: string): Promise<RawClient> => {
      const c = await RawClient.open(`${s.url}?token=${user}`);
      clients.push(c);
      for (const channel of ['news', 'presence-room'])
        expect((await c.request({ type: 'subscribe', channel })).type).toBe('ack');
      return c;
    };
    const aliceOnA = await open(a, 'alice');
    const bobOnB = await open(b, 'bob');
    const aliceOnB = await open(b, 'alice');

    // connections: each node's own
    const onA = await get(a, 'connections');
    expect(onA.body).toMatchObject({ nodeId: 'node-a', scope: 'node', total: 1 });
    expect((await get(b, 'connections')).body).toMatchObject({ nodeId: 'node-b', total: 2 });

    // channel counts: this node's and the cluster's
    await expect
      .poll(async () => {
        const list = (await get(a, 'channels')).body as { clusterWide: boolean; channels: { name: string }[] };
        return { clusterWide: list.clusterWide, news: list.channels.find((c) => c.name === 'news') };
      })
      .toEqual({ clusterWide: true, news: { name: 'news', local: 1, cluster: 3 } });
    // presence members: cluster-wide
    await expect
      .poll(async () =>
        ((await get(a, 'channels/presence-room')).body.presence as { userId: string }[]).map((m) => m.userId).sort(),
      )
      .toEqual(['alice', 'bob']);

    // publish on node A, read the history on node B, received on both nodes
    const published = await get(a, 'publish', {
      method: 'POST',
      body: { channel: 'news', event: 'x', data: { n: 1 } },
    });
    expect(published.status).toBe(202);
    expect(published.body.nodeId).toBe('node-a');
    await bobOnB.next((f) => f.type === 'message' && f.event === 'x');
    await aliceOnA.next((f) => f.type === 'message' && f.event === 'x');
    const history = await get(b, 'channels/news/history');
    expect(history.body).toMatchObject({ nodeId: 'node-b', messages: [{ event: 'x', data: { n: 1 } }] });

    // disconnecting a user from node A's inspector closes its connections on both nodes
    const closed = await get(a, 'disconnect', { method: 'POST', body: { userId: 'alice' } });
    expect(closed.body).toMatchObject({ nodeId: 'node-a', disconnected: 1, scope: 'cluster' });
    expect((await aliceOnA.waitClose()).code).toBe(1008);
    expect((await aliceOnB.waitClose()).code).toBe(1008);
    await waitFor(() => b.service.getConnectionCount() === 1);
    // a connection id of the other node is not found here
    const bobId = ((await get(b, 'connections')).body.connections as { id: string }[])[0]!.id;
    expect((await get(a, 'disconnect', { method: 'POST', body: { connectionId: bobId } })).status).toBe(404);
  });
});
