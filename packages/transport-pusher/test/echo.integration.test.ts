import { RedisBroker } from '@unisocket/broker-redis';
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
// by path: this package does not depend on @unisocket/services, and the file needs no dependency
import { deleteRedisKeys } from '../../../tooling/services/src/redis-keys.mjs';
import { APP, type PusherNode, authorize, pusherClient, rawSocket, startNode, until } from './helpers';

const nodes: PusherNode[] = [];
const closers: (() => void)[] = [];

// every Redis key prefix this file hands out, deleted after the suite (SCAN + DEL) so no test: key is left behind
const redisPrefixes: string[] = [];
afterAll(async () => {
  await deleteRedisKeys(redisPrefixes.splice(0), { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
});

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  for (const n of nodes.splice(0)) await n.close();
});

function echo(port: number, user: { id: string; info?: unknown }): Echo<'pusher'> {
  const e = new Echo({
    broadcaster: 'pusher',
    Pusher,
    key: APP.key,
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: 'mt1',
    authorizer: ((channel: { name: string }) => ({
      authorize: (socketId: string, callback: (error: Error | null, data: unknown) => void) =>
        callback(null, authorize(APP, socketId, channel.name, user)),
    })) as never,
  });
  closers.push(() => e.disconnect());
  return e;
}

describe('Laravel Echo 2 (pusher broadcaster)', () => {
  it('presence here/joining/leaving, whisper and listenForWhisper, the sender not echoed', async () => {
    const n = await startNode();
    nodes.push(n);
    const alice = echo(n.port, { id: 'alice', info: { name: 'Alice' } });
    const here: unknown[][] = [];
    const joining: unknown[] = [];
    const leaving: unknown[] = [];
    const aliceWhispers: unknown[] = [];
    const aliceRoom = alice
      .join('room')
      .here((members: unknown[]) => here.push(members))
      .joining((m: unknown) => joining.push(m))
      .leaving((m: unknown) => leaving.push(m))
      .listenForWhisper('typing', (e: unknown) => aliceWhispers.push(e));
    await until(() => here.length === 1);
    expect(here[0]).toEqual([{ name: 'Alice' }]);
    const bob = echo(n.port, { id: 'bob', info: { name: 'Bob' } });
    const bobWhispers: unknown[] = [];
    const bobRoom = bob.join('room').listenForWhisper('typing', (e: unknown) => bobWhispers.push(e));
    await until(() => joining.length === 1);
    expect(joining[0]).toEqual({ name: 'Bob' });
    aliceRoom.whisper('typing', { who: 'alice' });
    await until(() => bobWhispers.length === 1);
    expect(bobWhispers[0]).toEqual({ who: 'alice' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(aliceWhispers).toEqual([]);
    bobRoom.whisper('typing', { who: 'bob' });
    await until(() => aliceWhispers.length === 1);
    bob.leave('room');
    await until(() => leaving.length === 1);
    expect(leaving[0]).toEqual({ name: 'Bob' });
  });

  it('private channels: listen to server events published from the native side', async () => {
    const n = await startNode();
    nodes.push(n);
    const e = echo(n.port, { id: 'u1' });
    const got: unknown[] = [];
    e.private('orders').listen('.shipped', (data: unknown) => got.push(data));
    await until(() => n.hub.channelSubscribers('private-orders').length === 1);
    await n.hub.publish('private-orders', 'shipped', { id: 7 });
    await until(() => got.length === 1);
    expect(got[0]).toEqual({ id: 7 });
  });
});

describe('crossing transports and nodes', () => {
  it('messages cross Pusher and native in both directions (Pusher data strings arrive parsed)', async () => {
    const n = await startNode();
    nodes.push(n);
    const native = await rawSocket(`ws://127.0.0.1:${n.port}/ws`);
    closers.push(() => native.ws.terminate());
    await native.next('welcome');
    native.send({ type: 'subscribe', channel: 'private-room', ref: 1 });
    await native.next('ack');
    const p = pusherClient(n.port, APP, { id: 'p' });
    closers.push(() => p.disconnect());
    const room = p.subscribe('private-room');
    const atPusher: unknown[] = [];
    room.bind('say', (d: unknown) => atPusher.push(d));
    await until(() => n.hub.channelSubscribers('private-room').length === 2);
    native.send({ type: 'publish', channel: 'private-room', event: 'say', data: { text: 'from native' }, ref: 2 });
    await until(() => atPusher.length === 1);
    expect(atPusher[0]).toEqual({ text: 'from native' });
    expect(room.trigger('client-note', JSON.stringify({ text: 'from pusher' }))).toBe(true);
    const note = await native.next('message', native.messages.findIndex((m) => m.event === 'say') + 1);
    expect(note).toMatchObject({ channel: 'private-room', event: 'client-note', data: { text: 'from pusher' } });
  });

  it('presence and messages across two nodes on Redis', async () => {
    const prefix = `test:pusher-echo:${Date.now()}:`;
    redisPrefixes.push(prefix);
    const a = await startNode({ broker: new RedisBroker({ url: 'redis://127.0.0.1:6379', keyPrefix: prefix }) });
    const b = await startNode({ broker: new RedisBroker({ url: 'redis://127.0.0.1:6379', keyPrefix: prefix }) });
    nodes.push(a, b);
    const alice = pusherClient(a.port, APP, { id: 'alice' });
    const bob = pusherClient(b.port, APP, { id: 'bob' });
    closers.push(
      () => alice.disconnect(),
      () => bob.disconnect(),
    );
    const aliceRoom = alice.subscribe('presence-x');
    const added: unknown[] = [];
    aliceRoom.bind('pusher:member_added', (m: unknown) => added.push(m));
    await until(() => a.hub.channelSubscribers('presence-x').length === 1);
    const bobRoom = bob.subscribe('presence-x');
    await until(() => added.length === 1);
    expect(added[0]).toMatchObject({ id: 'bob' });
    const got: unknown[] = [];
    bobRoom.bind('news', (d: unknown) => got.push(d));
    await a.hub.publish('presence-x', 'news', { n: 1 });
    await until(() => got.length === 1);
    expect(got[0]).toEqual({ n: 1 });
  });
});
