import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { RedisBroker } from '@unisocket/broker-redis';
import { Hub } from '@unisocket/core';
import Pusher from 'pusher';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
// by path: this package does not depend on @unisocket/services, and the file needs no dependency
import { deleteRedisKeys } from '../../../tooling/services/src/redis-keys.mjs';
import type PusherJs from 'pusher-js';
import {
  type PusherNode,
  connected,
  pusherClient,
  until as pusherUntil,
  sleep,
  startNode,
  subscribed,
} from './helpers';
import { APP, NativeClient, type RestNode, startRestNode, until } from './rest-helpers';

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
if (!redisAvailable && process.env.CI === 'true')
  throw new Error(`Redis is not reachable at ${REDIS_URL}; CI needs it`);

const nodes: RestNode[] = [];
const clients: NativeClient[] = [];
const pusherNodes: PusherNode[] = [];
const pusherClients: PusherJs[] = [];
// every Redis key prefix this file hands out, deleted after the suite (SCAN + DEL) so no test: key is left behind
const redisPrefixes: string[] = [];
afterAll(async () => {
  await deleteRedisKeys(redisPrefixes.splice(0), { url: REDIS_URL });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const p of pusherClients.splice(0)) p.disconnect();
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await Promise.all(pusherNodes.splice(0).map((n) => n.close()));
});

async function client(n: RestNode, token?: string): Promise<NativeClient> {
  const c = await NativeClient.open(n.wsUrl, token);
  clients.push(c);
  return c;
}
const sdk = (port: number): Pusher =>
  new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(port), useTLS: false });

describe('Pusher REST API: socket_id exclusion', () => {
  it('native sockets never match a socket_id', async () => {
    const n = await startRestNode();
    nodes.push(n);
    const one = await client(n);
    const other = await client(n);
    for (const c of [one, other]) await c.subscribe('chat');
    await sdk(n.port).trigger('chat', 'say', { text: 'hi' }, { socket_id: '1.1' });
    await until(() => one.messages('chat').length === 1 && other.messages('chat').length === 1);
  });
});

describe.skipIf(!redisAvailable)('Pusher sender exclusion across two nodes on Redis', () => {
  it('a socket_id of a pusher-js client on node B, sent through node A, skips only that client', async () => {
    const keyPrefix = `test:pusher-except:${randomBytes(4).toString('hex')}:`;
    redisPrefixes.push(keyPrefix);
    const a = await startRestNode({ broker: new RedisBroker({ url: REDIS_URL, keyPrefix, nodeId: 'node-a' }) });
    nodes.push(a);
    const b = await startNode({ broker: new RedisBroker({ url: REDIS_URL, keyPrefix, nodeId: 'node-b' }) });
    pusherNodes.push(b);
    const sender = pusherClient(b.port);
    const other = pusherClient(b.port);
    pusherClients.push(sender, other);
    await Promise.all([connected(sender), connected(other)]);
    const got = new Map<PusherJs, unknown[]>([
      [sender, []],
      [other, []],
    ]);
    for (const p of [sender, other]) {
      const channel = p.subscribe('news');
      channel.bind('say', (data: unknown) => got.get(p)!.push(data));
      await subscribed(channel);
    }
    const socketId = sender.connection.socket_id;
    await sdk(a.port).trigger('news', 'say', { n: 1 }, { socket_id: socketId });
    await sdk(a.port).trigger('news', 'say', { n: 2 });
    await pusherUntil(() => got.get(other)!.length === 2 && got.get(sender)!.length === 1);
    await sleep(50);
    expect(got.get(other)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(got.get(sender)).toEqual([{ n: 2 }]);
  });

  it('a native subscriber of a Pusher client event sees no connection id', async () => {
    const keyPrefix = `test:pusher-except:${randomBytes(4).toString('hex')}:`;
    redisPrefixes.push(keyPrefix);
    const b = await startNode({ broker: new RedisBroker({ url: REDIS_URL, keyPrefix, nodeId: 'node-b' }) });
    pusherNodes.push(b);
    const native = await NativeClient.open(`ws://127.0.0.1:${b.port}/ws`);
    clients.push(native);
    await native.subscribe('private-chat');
    const sender = pusherClient(b.port);
    pusherClients.push(sender);
    await connected(sender);
    const channel = sender.subscribe('private-chat');
    const echoed: unknown[] = [];
    channel.bind('client-hi', (data: unknown) => echoed.push(data));
    await subscribed(channel);
    channel.trigger('client-hi', { x: 1 });
    await until(() => native.messages('private-chat').length === 1);
    const conn = [...b.hub.connections()].find((c) => c.transport === 'pusher')!;
    const line = JSON.stringify(native.messages('private-chat')[0]);
    expect(line).not.toContain(conn.id);
    expect(line).toContain(`"except":"${sender.connection.socket_id}"`);
    await sleep(50);
    expect(echoed).toEqual([]);
  });
});

describe.skipIf(!redisAvailable)('Pusher REST API across two nodes on Redis', () => {
  it('an event published through node A reaches subscribers on node B; presence users are cluster-wide', async () => {
    const keyPrefix = `test:pusher-rest:${randomBytes(4).toString('hex')}:`;
    redisPrefixes.push(keyPrefix);
    const start = async (nodeId: string): Promise<RestNode> => {
      const broker = new RedisBroker({ url: REDIS_URL, keyPrefix, nodeId });
      const n = await startRestNode({ broker, nodeId });
      nodes.push(n);
      return n;
    };
    const a = await start('node-a');
    const b = await start('node-b');
    expect(a.hub).toBeInstanceOf(Hub);
    const onB = await client(b, 'bea');
    await onB.subscribe('news');
    await onB.subscribe('presence-room');
    const onA = await client(a, 'al');
    await onA.subscribe('presence-room');
    await sdk(a.port).trigger('news', 'update', { n: 1 });
    await sdk(a.port).triggerBatch([{ channel: 'news', name: 'update', data: { n: 2 } }]);
    await until(() => onB.messages('news').length === 2);
    expect(onB.messages('news').map((m) => m.data)).toEqual([{ n: 1 }, { n: 2 }]);
    const users = await (await sdk(a.port).get({ path: '/channels/presence-room/users' })).json();
    expect((users as { users: { id: string }[] }).users.map((u) => u.id).sort()).toEqual(['al', 'bea']);
    const info = await sdk(a.port).get({ path: '/channels/presence-room', params: { info: 'user_count' } });
    expect(await info.json()).toEqual({ occupied: true, user_count: 2 });
  });

  it("terminate_connections through node A closes the user's connections on node B", async () => {
    const keyPrefix = `test:pusher-rest:${randomBytes(4).toString('hex')}:`;
    redisPrefixes.push(keyPrefix);
    const start = async (nodeId: string): Promise<RestNode> => {
      const broker = new RedisBroker({ url: REDIS_URL, keyPrefix, nodeId });
      const n = await startRestNode({ broker, nodeId });
      nodes.push(n);
      return n;
    };
    const a = await start('node-a');
    const b = await start('node-b');
    const bobOnB = await client(b, 'bob');
    const bobOnA = await client(a, 'bob');
    const adaOnB = await client(b, 'ada');
    // the personal channel is active at the broker on both nodes once a subscribe round trip is answered
    for (const c of [bobOnB, bobOnA, adaOnB]) await c.subscribe('news');
    const res = await sdk(a.port).terminateUserConnections('bob');
    expect(res.status).toBe(200);
    await until(() => bobOnB.closed !== undefined && bobOnA.closed !== undefined);
    expect(bobOnB.closed?.code).toBe(4009);
    expect(bobOnA.closed?.code).toBe(4009);
    await until(() => b.hub.connectionCount === 1);
    expect(adaOnB.closed).toBeUndefined();
    expect(b.hub.userConnections('ada')).toHaveLength(1);
  });
  it('channel list, subscription_count and occupied asked through node A count the subscribers of node B', async () => {
    const keyPrefix = `test:pusher-rest:${randomBytes(4).toString('hex')}:`;
    redisPrefixes.push(keyPrefix);
    const start = async (nodeId: string): Promise<RestNode> => {
      const broker = new RedisBroker({ url: REDIS_URL, keyPrefix, nodeId });
      const n = await startRestNode({ broker, nodeId });
      nodes.push(n);
      return n;
    };
    const a = await start('node-a');
    const b = await start('node-b');
    const onB = await client(b, 'bea');
    await onB.subscribe('news');
    const alsoOnB = await client(b, 'bo');
    await alsoOnB.subscribe('news');
    const onA = await client(a, 'al');
    await onA.subscribe('news');
    await onA.subscribe('chat');
    const get = async (path: string, params?: Record<string, string>): Promise<unknown> =>
      (await sdk(a.port).get(params === undefined ? { path } : { path, params })).json();
    expect(await get('/channels', { info: 'subscription_count' })).toEqual({
      channels: { news: { subscription_count: 3 }, chat: { subscription_count: 1 } },
    });
    expect(await get('/channels/news', { info: 'subscription_count' })).toEqual({
      occupied: true,
      subscription_count: 3,
    });
    // a channel occupied on node B only
    onA.close();
    await until(() => a.hub.connectionCount === 0);
    expect(await get('/channels', { info: 'subscription_count', filter_by_prefix: 'ne' })).toEqual({
      channels: { news: { subscription_count: 2 } },
    });
    expect(await get('/channels/news', { info: 'subscription_count' })).toEqual({
      occupied: true,
      subscription_count: 2,
    });
    // B's subscribers leave: gone everywhere
    onB.close();
    alsoOnB.close();
    await until(() => b.hub.connectionCount === 0);
    expect(await get('/channels')).toEqual({ channels: {} });
    expect(await get('/channels/news', { info: 'subscription_count' })).toEqual({
      occupied: false,
      subscription_count: 0,
    });
  });
});
