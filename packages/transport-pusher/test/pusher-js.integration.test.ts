import type Pusher from 'pusher-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  APP,
  APP2,
  type PusherNode,
  type RawSocket,
  authorize,
  connected,
  pusherClient,
  rawSocket,
  startNode,
  subscribed,
  until,
} from './helpers';

const nodes: PusherNode[] = [];
const clients: Pusher[] = [];
const raws: RawSocket[] = [];

async function node(...args: Parameters<typeof startNode>): Promise<PusherNode> {
  const n = await startNode(...args);
  nodes.push(n);
  return n;
}
function client(...args: Parameters<typeof pusherClient>): Pusher {
  const c = pusherClient(...args);
  clients.push(c);
  return c;
}
async function raw(url: string): Promise<RawSocket> {
  const r = await rawSocket(url);
  raws.push(r);
  return r;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const r of raws.splice(0)) r.ws.terminate();
  for (const n of nodes.splice(0)) await n.close();
});

describe('pusher-js 8 against the Pusher transport', () => {
  it('connects with a unique socket id and receives public channel events published on the Hub', async () => {
    const n = await node();
    const a = client(n.port);
    const b = client(n.port);
    await Promise.all([connected(a), connected(b)]);
    expect(a.connection.socket_id).toMatch(/^\d+\.\d+$/);
    expect(a.connection.socket_id).not.toBe(b.connection.socket_id);
    const channel = a.subscribe('news');
    await subscribed(channel);
    const got: unknown[] = [];
    channel.bind('update', (data: unknown) => got.push(data));
    await n.hub.publish('news', 'update', { title: 'hello' });
    await n.hub.publish('news', 'update', 'plain string');
    await until(() => got.length === 2);
    expect(got).toEqual([{ title: 'hello' }, 'plain string']);
  });

  it('private channels need a valid signature: a bad one is a subscription_error', async () => {
    const n = await node();
    const good = client(n.port);
    const bad = client(n.port, APP, undefined, true);
    await subscribed(good.subscribe('private-orders'));
    await expect(subscribed(bad.subscribe('private-orders'))).rejects.toMatchObject({
      error: { type: 'AuthError', status: 403 },
    });
  });

  it('presence: members on subscribe, member_added and member_removed', async () => {
    const n = await node();
    const alice = client(n.port, APP, { id: 'alice', info: { name: 'Alice' } });
    const aliceRoom = alice.subscribe('presence-room') as unknown as {
      members: { count: number; get(id: string): unknown; each(cb: (m: { id: string }) => void): void };
      bind(event: string, cb: (data: unknown) => void): void;
    };
    await subscribed(aliceRoom);
    const added: unknown[] = [];
    const removed: unknown[] = [];
    aliceRoom.bind('pusher:member_added', (m) => added.push(m));
    aliceRoom.bind('pusher:member_removed', (m) => removed.push(m));
    const bob = client(n.port, APP, { id: 'bob', info: { name: 'Bob' } });
    const bobRoom = bob.subscribe('presence-room') as unknown as typeof aliceRoom;
    await subscribed(bobRoom);
    expect(bobRoom.members.count).toBe(2);
    expect(bobRoom.members.get('alice')).toEqual({ id: 'alice', info: { name: 'Alice' } });
    await until(() => added.length === 1);
    expect(added[0]).toMatchObject({ id: 'bob', info: { name: 'Bob' } });
    bob.disconnect();
    await until(() => removed.length === 1);
    expect(removed[0]).toMatchObject({ id: 'bob' });
  });

  it('client events reach the other members, never the sender, with user_id on presence channels', async () => {
    const n = await node();
    const a = client(n.port, APP, { id: 'a' });
    const b = client(n.port, APP, { id: 'b' });
    const ca = a.subscribe('presence-chat');
    const cb = b.subscribe('presence-chat');
    await Promise.all([subscribed(ca), subscribed(cb)]);
    const atA: unknown[] = [];
    const atB: { data: unknown; meta: unknown }[] = [];
    ca.bind('client-typing', (d: unknown) => atA.push(d));
    cb.bind('client-typing', (d: unknown, meta: unknown) => atB.push({ data: d, meta }));
    expect(ca.trigger('client-typing', { typing: true })).toBe(true);
    await until(() => atB.length === 1);
    expect(atB[0]).toEqual({ data: { typing: true }, meta: { user_id: 'a' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(atA).toEqual([]);
  });

  it('client events are refused (4301) on public channels, when oversize, and over the rate', async () => {
    const n = await node({ pusher: { apps: [{ ...APP, maxEventBytes: 64, clientEventsPerSecond: 2 }] } });
    // the Hub's publish permission (authorizePublish) allows it: what refuses is the app's own rules
    const r = await raw(`ws://127.0.0.1:${n.port}/app/${APP.key}?protocol=7&client=js&version=8.6.0`);
    await r.next('pusher:connection_established');
    r.send({ event: 'pusher:subscribe', data: { channel: 'public-room' } });
    await r.next('pusher_internal:subscription_succeeded');
    r.send({ event: 'client-x', channel: 'public-room', data: {} });
    expect(await r.next('pusher:error')).toMatchObject({ data: { code: 4301 } });
    const socketId = JSON.parse(r.messages[0]!.data as string).socket_id as string;
    r.send({
      event: 'pusher:subscribe',
      data: { channel: 'private-room', ...authorize(APP, socketId, 'private-room') },
    });
    await r.next('pusher_internal:subscription_succeeded', 2);
    let mark = r.messages.length;
    r.send({ event: 'client-x', channel: 'private-room', data: { text: 'x'.repeat(100) } });
    expect(await r.next('pusher:error', mark)).toMatchObject({
      data: { code: 4301, message: expect.stringContaining('64 bytes') },
    });
    mark = r.messages.length;
    for (let i = 0; i < 3; i++) r.send({ event: 'client-x', channel: 'private-room', data: {} });
    expect(await r.next('pusher:error', mark)).toMatchObject({
      data: { code: 4301, message: expect.stringContaining('per second') },
    });
    expect(r.ws.readyState).toBe(r.ws.OPEN);
  });

  it('refuses an unknown key with 4001 and an unsupported protocol with 4007', async () => {
    const n = await node();
    const unknown = await raw(`ws://127.0.0.1:${n.port}/app/nope?protocol=7`);
    expect(await unknown.next('pusher:error')).toMatchObject({ data: { code: 4001 } });
    expect((await unknown.closed).code).toBe(4001);
    const old = await raw(`ws://127.0.0.1:${n.port}/app/${APP.key}?protocol=4`);
    expect(await old.next('pusher:error')).toMatchObject({ data: { code: 4007 } });
    expect((await old.closed).code).toBe(4007);
  });

  it('answers pusher:ping with pusher:pong, and closes a silent client with 4201', async () => {
    const n = await node({ pusher: { activityTimeoutSec: 1 }, pongTimeoutMs: 300 });
    const r = await raw(`ws://127.0.0.1:${n.port}/app/${APP.key}?protocol=7`);
    const established = await r.next('pusher:connection_established');
    expect(JSON.parse(established.data as string)).toMatchObject({ activity_timeout: 1 });
    r.send({ event: 'pusher:ping', data: {} });
    await r.next('pusher:pong');
    await r.next('pusher:ping');
    expect((await r.closed).code).toBe(4201);
  });

  it('closes with 4200 (reconnect) when the service shuts down', async () => {
    const n = await node();
    const r = await raw(`ws://127.0.0.1:${n.port}/app/${APP.key}?protocol=7`);
    await r.next('pusher:connection_established');
    n.hub.close();
    expect((await r.closed).code).toBe(4200);
  });

  it('cache channels send the last event on subscribe, or pusher:cache_miss', async () => {
    const n = await node();
    const r = await raw(`ws://127.0.0.1:${n.port}/app/${APP.key}?protocol=7`);
    await r.next('pusher:connection_established');
    r.send({ event: 'pusher:subscribe', data: { channel: 'cache-empty' } });
    expect(await r.next('pusher:cache_miss')).toMatchObject({ channel: 'cache-empty' });
    await n.hub.publish('cache-prices', 'price', { eur: 1 });
    await n.hub.publish('cache-prices', 'price', { eur: 2 });
    const mark = r.messages.length;
    r.send({ event: 'pusher:subscribe', data: { channel: 'cache-prices' } });
    expect(await r.next('price', mark)).toEqual({ event: 'price', channel: 'cache-prices', data: '{"eur":2}' });
  });

  it('pusher:signin makes #server-to-user-{id} the Hub user channel', async () => {
    const n = await node();
    const c = client(n.port, APP, { id: 'u1' });
    c.signin();
    const got: unknown[] = [];
    c.user.bind('note', (data: unknown) => got.push(data));
    await until(() => n.hub.userConnections('u1').length === 1);
    await until(() => (n.hub.userConnections('u1')[0]?.channels ?? []).includes('user:u1'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await n.hub.publish('user:u1', 'note', { text: 'hi' });
    await until(() => got.length === 1);
    expect(got[0]).toEqual({ text: 'hi' });
  });

  it('keeps apps isolated: the same names never cross apps, and a second app lives under app:<id>:', async () => {
    const n = await node();
    const one = client(n.port, APP, { id: 'u1' });
    const two = client(n.port, APP2, { id: 'u1' });
    const c1 = one.subscribe('presence-room');
    const c2 = two.subscribe('presence-room');
    const p1 = one.subscribe('news');
    const p2 = two.subscribe('news');
    await Promise.all([subscribed(c1), subscribed(c2), subscribed(p1), subscribed(p2)]);
    const at1: unknown[] = [];
    const at2: unknown[] = [];
    p1.bind('e', (d: unknown) => at1.push(d));
    p2.bind('e', (d: unknown) => at2.push(d));
    await n.hub.publish('news', 'e', 1);
    await n.hub.publish('app:app-2:news', 'e', 2);
    await until(() => at1.length === 1 && at2.length === 1);
    expect([at1, at2]).toEqual([[1], [2]]);
    expect(await n.hub.presenceMembers('presence-room')).toEqual([{ userId: 'u1' }]);
    expect(await n.hub.presenceMembers('app:app-2:presence-room')).toEqual([{ userId: 'app:app-2:u1' }]);
    // a name with ':' (the only way to write a scope) is refused to Pusher clients of either app
    await expect(subscribed(one.subscribe('app:app-2:news'))).rejects.toMatchObject({ error: { status: 400 } });
    await expect(subscribed(two.subscribe('user:u1'))).rejects.toMatchObject({ error: { status: 400 } });
  });
});
