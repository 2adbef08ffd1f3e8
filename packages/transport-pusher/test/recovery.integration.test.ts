import { MemoryBroker } from '@unisocket/core';
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import { afterEach, describe, expect, it } from 'vitest';
// @unisocket/client's recovery helper, from its source: the client package's tests depend on @unisocket/server,
// which depends on this package, so this package cannot take @unisocket/client as a devDependency (a cycle)
import { type PusherRecovery, recoverPusher } from '../../client/src/pusher-recovery';
import type { GapInfo } from '../../client/src/types';
import {
  APP,
  type PusherNode,
  type RawSocket,
  authorize,
  connected,
  pusherClient,
  rawSocket,
  sleep,
  startNode,
  subscribed,
  until,
} from './helpers';

const nodes: PusherNode[] = [];
const closers: (() => void)[] = [];

async function node(...args: Parameters<typeof startNode>): Promise<PusherNode> {
  const n = await startNode(...args);
  nodes.push(n);
  return n;
}
function client(port: number): Pusher {
  const c = pusherClient(port, APP, { id: 'u1' });
  closers.push(() => c.disconnect());
  return c;
}
async function raw(port: number): Promise<RawSocket> {
  const r = await rawSocket(`ws://127.0.0.1:${port}/app/${APP.key}?protocol=7&client=js&version=8.6.0`);
  closers.push(() => r.ws.terminate());
  await r.next('pusher:connection_established');
  return r;
}

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  for (const n of nodes.splice(0)) await n.close();
});

type Bindable = { bind(event: string, cb: (data: unknown) => void): unknown };

/** Counts a channel's `pusher:subscription_succeeded` (one per (re)subscribe). */
function subscriptions(channel: Bindable): { count: number } {
  const counter = { count: 0 };
  channel.bind('pusher:subscription_succeeded', () => counter.count++);
  return counter;
}

/** Disconnects pusher-js, publishes `values` to `channel` while it is away, and connects it again. */
async function away(
  n: PusherNode,
  c: Pusher,
  counter: { count: number },
  channel: string,
  values: number[],
): Promise<void> {
  const before = counter.count;
  const connections = n.hub.connectionCount;
  c.disconnect();
  await until(() => n.hub.connectionCount === connections - 1);
  for (const value of values) await n.hub.publish(channel, 'n', value);
  c.connect();
  await connected(c);
  await until(() => counter.count === before + 1);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('recovery for Pusher clients (wire)', () => {
  it('events carry their position and subscription_succeeded where the subscription starts; pusher-js data is unchanged', async () => {
    const n = await node();
    await n.hub.publish('news', 'n', 0);
    const r = await raw(n.port);
    r.send({ event: 'pusher:subscribe', data: { channel: 'news' } });
    const ok = await r.next('pusher_internal:subscription_succeeded');
    expect(ok).toEqual({
      event: 'pusher_internal:subscription_succeeded',
      channel: 'news',
      data: '{}',
      unisocket: { epoch: expect.any(String), offset: 1 },
    });
    const epoch = (ok.unisocket as { epoch: string }).epoch;
    await n.hub.publish('news', 'n', { v: 1 });
    expect(await r.next('n')).toEqual({
      event: 'n',
      channel: 'news',
      data: '{"v":1}',
      unisocket: { epoch, offset: 2 },
    });
    // a plain pusher-js reads the same event as before
    const c = client(n.port);
    const got: unknown[] = [];
    const channel = c.subscribe('news');
    channel.bind('n', (data: unknown, meta: unknown) => got.push([data, meta]));
    await subscribed(channel);
    await n.hub.publish('news', 'n', { v: 2 });
    await until(() => got.length === 1);
    expect(got).toEqual([[{ v: 2 }, {}]]);
  });

  it('pusher:subscribe with since replays what was missed (recovered:true), or says recovered:false', async () => {
    const n = await node({ broker: new MemoryBroker({ history: { size: 3 } }) });
    const r = await raw(n.port);
    r.send({ event: 'pusher:subscribe', data: { channel: 'news' } });
    const ok = await r.next('pusher_internal:subscription_succeeded');
    const epoch = (ok.unisocket as { epoch: string }).epoch;
    for (let i = 1; i <= 4; i++) await n.hub.publish('news', 'n', i);
    await until(() => r.messages.filter((m) => m.event === 'n').length === 4);

    const again = await raw(n.port);
    again.send({ event: 'pusher:subscribe', data: { channel: 'news', since: { epoch, offset: 2 } } });
    expect(await again.next('pusher_internal:subscription_succeeded')).toMatchObject({
      unisocket: { epoch, offset: 4, recovered: true },
    });
    await until(() => again.messages.filter((m) => m.event === 'n').length === 2);
    expect(again.messages.filter((m) => m.event === 'n').map((m) => [m.data, m.unisocket])).toEqual([
      ['3', { epoch, offset: 3 }],
      ['4', { epoch, offset: 4 }],
    ]);

    // offset 0 is no longer in a history of 3
    const late = await raw(n.port);
    late.send({ event: 'pusher:subscribe', data: { channel: 'news', since: { epoch, offset: 0 } } });
    expect(await late.next('pusher_internal:subscription_succeeded')).toMatchObject({
      unisocket: { epoch, offset: 4, recovered: false },
    });
    const other = await raw(n.port);
    other.send({ event: 'pusher:subscribe', data: { channel: 'news', since: { epoch: 'another', offset: 4 } } });
    expect(await other.next('pusher_internal:subscription_succeeded')).toMatchObject({
      unisocket: { recovered: false },
    });

    const bad = await raw(n.port);
    bad.send({ event: 'pusher:subscribe', data: { channel: 'news', since: { epoch, offset: -1 } } });
    expect(await bad.next('pusher:subscription_error')).toMatchObject({
      channel: 'news',
      data: { type: 'BAD_REQUEST', status: 400 },
    });
    await sleep(50);
    expect(late.messages.filter((m) => m.event === 'n')).toEqual([]);
  });
});

describe('recovery for Pusher clients (pusher-js 8 and Laravel Echo 2)', () => {
  it('a plain pusher-js client misses what was published while it was away', async () => {
    const n = await node();
    const c = client(n.port);
    const channel = c.subscribe('news');
    const counter = subscriptions(channel);
    const got: unknown[] = [];
    channel.bind('n', (data: unknown) => got.push(data));
    await until(() => counter.count === 1);
    await n.hub.publish('news', 'n', 1);
    await until(() => got.length === 1);
    await away(n, c, counter, 'news', [2, 3, 4]);
    await n.hub.publish('news', 'n', 5);
    await until(() => got.length === 2);
    expect(got).toEqual([1, 5]);
  });

  it('with recoverPusher it receives exactly the missed events, in order, once, then live ones', async () => {
    const n = await node();
    const c = client(n.port);
    const recovery = recoverPusher(c);
    const gaps: GapInfo[] = [];
    recovery.onGap((gap) => gaps.push(gap));
    const channel = c.subscribe('news');
    const counter = subscriptions(channel);
    const got: unknown[] = [];
    channel.bind('n', (data: unknown) => got.push(data));
    await until(() => counter.count === 1);
    expect(recovery.channel('news')).toMatchObject({ position: { offset: 0 }, recovered: null });
    await n.hub.publish('news', 'n', 1);
    await until(() => got.length === 1);
    await away(n, c, counter, 'news', [2, 3, 4]);
    await n.hub.publish('news', 'n', 5);
    await until(() => got.length === 5);
    await sleep(50);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(recovery.channel('news')).toMatchObject({ position: { offset: 5 }, recovered: true });
    // nothing missed this time: recovered, nothing replayed
    await away(n, c, counter, 'news', []);
    await n.hub.publish('news', 'n', 6);
    await until(() => got.length === 6);
    expect(got).toEqual(range(1, 6));
    expect(gaps).toEqual([]);
  });

  it('with recoverPusher a connection the server drops mid-stream loses nothing and duplicates nothing', async () => {
    const n = await node();
    const c = client(n.port);
    const recovery = recoverPusher(c);
    const news = c.subscribe('news');
    const orders = c.subscribe('private-orders');
    const newsCount = subscriptions(news);
    const ordersCount = subscriptions(orders);
    const got: { news: unknown[]; orders: unknown[] } = { news: [], orders: [] };
    news.bind('n', (data: unknown) => got.news.push(data));
    orders.bind('n', (data: unknown) => got.orders.push(data));
    await until(() => newsCount.count === 1 && ordersCount.count === 1);
    for (let i = 1; i <= 120; i++) {
      await n.hub.publish('news', 'n', i);
      await n.hub.publish('private-orders', 'n', i);
      if (i === 30 || i === 80) {
        // the server restarts the connection (Pusher close 4200): pusher-js reconnects at once, while we publish
        if (i === 80) await until(() => newsCount.count === 2 && ordersCount.count === 2);
        const conn = n.transport.connectionOf(c.connection.socket_id);
        n.hub.disconnect(conn!, 1012, 'restarting');
      }
      if (i % 4 === 0) await sleep(1);
    }
    await until(() => got.news.length >= 120 && got.orders.length >= 120);
    await sleep(50);
    expect(got.news).toEqual(range(1, 120));
    expect(got.orders).toEqual(range(1, 120));
    expect(newsCount.count).toBe(3);
    expect(recovery.channels().map((ch) => [ch.channel, ch.position?.offset, ch.recovered])).toEqual([
      ['news', 120, true],
      ['private-orders', 120, true],
    ]);
  });

  it('a gap beyond the history: recovered false and onGap, then live events', async () => {
    const n = await node({ broker: new MemoryBroker({ history: { size: 3 } }) });
    const c = client(n.port);
    const gaps: GapInfo[] = [];
    const recovery = recoverPusher(c, { onGap: (gap) => gaps.push(gap) });
    const channel = c.subscribe('news');
    const counter = subscriptions(channel);
    const got: unknown[] = [];
    channel.bind('n', (data: unknown) => got.push(data));
    await until(() => counter.count === 1);
    await n.hub.publish('news', 'n', 1);
    await until(() => got.length === 1);
    const epoch = recovery.channel('news')!.position!.epoch;
    await away(n, c, counter, 'news', range(2, 7));
    expect(gaps).toEqual([
      { channel: 'news', reason: 'not-recovered', previous: { epoch, offset: 1 }, position: { epoch, offset: 7 } },
    ]);
    expect(recovery.channel('news')).toEqual({ channel: 'news', position: { epoch, offset: 7 }, recovered: false });
    await n.hub.publish('news', 'n', 8);
    await until(() => got.length === 2);
    expect(got).toEqual([1, 8]);
    // from there on it recovers again
    await away(n, c, counter, 'news', [9, 10]);
    await until(() => got.length === 4);
    expect(got).toEqual([1, 8, 9, 10]);
    expect(recovery.channel('news')?.recovered).toBe(true);
    expect(gaps).toHaveLength(1);
  });

  it('an unsubscribed channel starts afresh: no since, nothing replayed', async () => {
    const n = await node();
    const c = client(n.port);
    const recovery = recoverPusher(c);
    const first = c.subscribe('news');
    await subscribed(first);
    await n.hub.publish('news', 'n', 1);
    await until(() => recovery.channel('news')?.position?.offset === 1);
    c.unsubscribe('news');
    expect(recovery.channel('news')).toBeUndefined();
    await until(() => n.hub.channelSubscribers('news').length === 0);
    await n.hub.publish('news', 'n', 2);
    const again = c.subscribe('news');
    const got: unknown[] = [];
    again.bind('n', (data: unknown) => got.push(data));
    await subscribed(again);
    await n.hub.publish('news', 'n', 3);
    await until(() => got.length === 1);
    await sleep(50);
    expect(got).toEqual([3]);
    expect(recovery.channel('news')).toMatchObject({ position: { offset: 3 }, recovered: null });
    recovery.dispose();
    expect(Object.hasOwn(c, 'send_event')).toBe(false);
  });

  it('Laravel Echo with recoverPusher: a public and a private channel recover across a reconnect', async () => {
    const n = await node();
    const e = new Echo({
      broadcaster: 'pusher',
      Pusher,
      key: APP.key,
      wsHost: '127.0.0.1',
      wsPort: n.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      cluster: 'mt1',
      authorizer: ((channel: { name: string }) => ({
        authorize: (socketId: string, callback: (error: Error | null, data: unknown) => void) =>
          callback(null, authorize(APP, socketId, channel.name)),
      })) as never,
    });
    closers.push(() => e.disconnect());
    const recovery: PusherRecovery = recoverPusher(e);
    const got: { news: unknown[]; orders: unknown[] } = { news: [], orders: [] };
    e.channel('news').listen('.n', (data: unknown) => got.news.push(data));
    e.private('orders').listen('.n', (data: unknown) => got.orders.push(data));
    const pusher = e.connector.pusher;
    const counter = { count: 0 };
    pusher.connection.bind('message', (event: { event: string; channel: string }) => {
      if (event.event === 'pusher_internal:subscription_succeeded' && event.channel === 'private-orders') {
        counter.count++;
      }
    });
    await until(() => n.hub.channelSubscribers('news').length === 1 && counter.count === 1);
    await n.hub.publish('news', 'n', 1);
    await n.hub.publish('private-orders', 'n', 1);
    await until(() => got.news.length === 1 && got.orders.length === 1);
    const before = counter.count;
    pusher.disconnect();
    await until(() => n.hub.connectionCount === 0);
    for (const v of [2, 3]) {
      await n.hub.publish('news', 'n', v);
      await n.hub.publish('private-orders', 'n', v);
    }
    pusher.connect();
    await until(() => counter.count === before + 1);
    await n.hub.publish('news', 'n', 4);
    await n.hub.publish('private-orders', 'n', 4);
    await until(() => got.news.length === 4 && got.orders.length === 4);
    await sleep(50);
    expect(got).toEqual({ news: [1, 2, 3, 4], orders: [1, 2, 3, 4] });
    expect(recovery.channel('private-orders')).toMatchObject({ position: { offset: 4 }, recovered: true });
  });
});
