import {
  type BrokerHost,
  type PresenceMember,
  type PublishRequest,
  type StreamMessage,
  type StreamPosition,
  messageHead,
} from '@unisocket/core';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { RedisBroker, type RedisBrokerOptions } from '../src/index';
import { PrivateRedis, REDIS_URL, redisAvailable, uniquePrefix, waitFor, deleteTestKeys } from './redis';
import { type RedisTarget, nodeServing, redisTargets } from './targets';

// The suites marked "on $name" run twice: on the shared single Redis and on a private Redis Cluster (3 masters with a
// replica each, started once for this file). The others need a single server (a private one to kill, CLIENT LIST).
const targets = await redisTargets();

interface Recorder extends BrokerHost {
  got: StreamMessage[];
  volatile: string[];
  resyncs: StreamPosition[];
  offsets(channel: string): number[];
}

function recorder(): Recorder {
  const got: StreamMessage[] = [];
  const volatile: string[] = [];
  const resyncs: StreamPosition[] = [];
  return {
    got,
    volatile,
    resyncs,
    dispatch: (m) => got.push(m),
    dispatchVolatile: (_c, line) => volatile.push(line),
    resync: (_c, p) => resyncs.push(p),
    offsets: (channel) => got.filter((m) => m.channel === channel).map((m) => m.offset),
  };
}

let counter = 0;
function request(channel: string, options: { id?: string; data?: unknown } = {}): PublishRequest {
  const id = options.id ?? `t-${counter++}`;
  const ts = Date.now();
  return {
    channel,
    id,
    head: messageHead(channel, 'e', JSON.stringify(options.data ?? counter), id, ts),
    ts,
    idempotent: options.id !== undefined,
  };
}

const brokers: RedisBroker[] = [];
const clients: Redis[] = [];
const servers: PrivateRedis[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
  await Promise.all(clients.splice(0).map((c) => c.quit()));
  await Promise.all(servers.splice(0).map((s) => s.kill()));
});
afterAll(() => deleteTestKeys());

async function makeBroker(options: RedisBrokerOptions = {}): Promise<{ broker: RedisBroker; host: Recorder }> {
  const where = options.url === undefined && options.redis === undefined ? { url: REDIS_URL } : {};
  const broker = new RedisBroker({ ...where, gapTimeoutMs: 20, ...options });
  const host = recorder();
  broker.attach(host);
  broker.on('error', () => {});
  brokers.push(broker);
  await broker.start();
  return { broker, host };
}

function redis(url = REDIS_URL): Redis {
  const client = new Redis(url);
  clients.push(client);
  return client;
}

describe('RedisBroker options', () => {
  it('refuses bad options with a TypeError that says what to change', () => {
    expect(() => new RedisBroker({ url: 'http://x' })).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => new RedisBroker({ keyPrefix: 'a{b}' })).toThrow(/without braces/);
    expect(() => new RedisBroker({ history: { size: -1 } })).toThrow(/history.size must be an integer >= 0/);
    expect(() => new RedisBroker({ history: { ttlMs: 10_000 }, channelTtlMs: 1000 })).toThrow(/raise channelTtlMs/);
    expect(() => new RedisBroker({ presence: { refreshMs: 1000, leaseMs: 1500 } })).toThrow(/at least twice/);
    expect(() => new RedisBroker({ bogus: 1 } as RedisBrokerOptions)).toThrow(/unknown RedisBroker option "bogus"/);
    expect(() => new RedisBroker({ url: REDIS_URL, redis: {} })).toThrow(/either url or redis/);
    expect(() => new RedisBroker({ history: { maxChannels: 5 } as never })).toThrow(/use size and ttlMs/);
    expect(() => new RedisBroker({ deliveredIdsWindow: 0 })).toThrow(/deliveredIdsWindow must be an integer >= 1/);
  });

  it('takes deliveredIdsWindow, and dedupeWindow (deprecated) for it with one warning', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      await new RedisBroker({ deliveredIdsWindow: 50 }).close();
      expect(warn).not.toHaveBeenCalled();
      expect(() => new RedisBroker({ dedupeWindow: 5, deliveredIdsWindow: 6 })).toThrow(
        /keep deliveredIdsWindow and remove dedupeWindow/,
      );
      for (let i = 0; i < 2; i++) await new RedisBroker({ dedupeWindow: 50 }).close();
      expect(warn.mock.calls.map((call) => (call[1] as { code?: string } | undefined)?.code)).toEqual([
        'UNISOCKET_DEP_DEDUPE_WINDOW',
      ]);
    } finally {
      warn.mockRestore();
    }
  });

  it('start() rejects with UNAVAILABLE when Redis cannot be reached in time', async () => {
    const broker = new RedisBroker({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 300 });
    broker.on('error', () => {});
    await expect(broker.start()).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /cannot reach Redis/ });
    expect(broker.state).toBe('connecting');
    await expect(broker.start()).rejects.toMatchObject({ code: 'UNAVAILABLE' }); // tries again, fails again
    await broker.close();
  });

  it('start() can be retried once Redis is there, and close() during a start ends it', async () => {
    const server = await PrivateRedis.start();
    servers.push(server);
    await server.kill();
    const broker = new RedisBroker({ url: server.url, connectTimeoutMs: 300, maxReconnectDelayMs: 50 });
    broker.on('error', () => {});
    brokers.push(broker);
    await expect(broker.start()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await server.start();
    await broker.start();
    expect(broker.state).toBe('ready');
    const other = new RedisBroker({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 10_000 });
    other.on('error', () => {});
    const starting = other.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await other.close();
    await expect(starting).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /closed while starting/ });
  });
});

/** The server that holds `key`: the single Redis, or the cluster's master for the key's slot. */
async function serverOf(target: RedisTarget, key: string): Promise<Redis | Cluster> {
  return target.cluster === undefined ? target.client() : nodeServing(target.cluster, key);
}

describe.each(targets)('RedisBroker on $name', (target) => {
  const on = (options: RedisBrokerOptions) => makeBroker({ ...target.brokerOptions(), ...options });
  if (!target.available) it.skip('needs the target', () => {});
  else {
    it('assigns contiguous offsets to concurrent publishes from several nodes, history in the same order', async () => {
      const keyPrefix = uniquePrefix('offsets');
      const a = await on({ keyPrefix });
      const b = await on({ keyPrefix });
      await a.broker.subscribe('ch');
      await b.broker.subscribe('ch');
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? a : b).broker.publish(request('ch'))),
      );
      const offsets = results.map((r) => r.offset).sort((x, y) => x - y);
      expect(offsets).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(new Set(results.map((r) => r.epoch)).size).toBe(1);
      const expected = Array.from({ length: 300 }, (_, i) => i + 1);
      await waitFor(() => a.host.got.length === 300 && b.host.got.length === 300, 10_000, 'both nodes to receive all');
      expect(a.host.offsets('ch')).toEqual(expected);
      expect(b.host.offsets('ch')).toEqual(expected);
      // the line is the message frame completed with its offset
      const m = a.host.got[41]!;
      expect(JSON.parse(m.line)).toMatchObject({ type: 'message', channel: 'ch', id: m.id, offset: 42, ts: m.ts });
      const read = await a.broker.history.read('ch', { epoch: results[0]!.epoch, offset: 0 });
      expect(read.complete).toBe(false); // history keeps 100
      expect(read.messages.map((x) => x.offset)).toEqual(expected.slice(200));
      expect(read.messages.map((x) => x.line)).toEqual(a.host.got.slice(200).map((x) => x.line));
    });

    it('history: position, read with limit, complete flag, other epoch', async () => {
      const { broker } = await on({ keyPrefix: uniquePrefix('read'), history: { size: 5 } });
      const start = await broker.history.position('h');
      expect(start.offset).toBe(0);
      expect(await broker.history.position('h')).toEqual(start); // the epoch is kept from the first use
      for (let i = 0; i < 8; i++) await broker.publish(request('h'));
      const epoch = start.epoch;
      expect(await broker.history.position('h')).toEqual({ epoch, offset: 8 });
      const all = await broker.history.read('h', { epoch, offset: 0 });
      expect(all.complete).toBe(false); // 1..3 were trimmed away
      expect(all.messages.map((m) => m.offset)).toEqual([4, 5, 6, 7, 8]);
      const tail = await broker.history.read('h', { epoch, offset: 3 });
      expect(tail.complete).toBe(true);
      expect(tail.messages.map((m) => m.offset)).toEqual([4, 5, 6, 7, 8]);
      const limited = await broker.history.read('h', { epoch, offset: 4 }, 2);
      expect(limited).toMatchObject({ complete: true, position: { epoch, offset: 8 } });
      expect(limited.messages.map((m) => m.offset)).toEqual([5, 6]);
      expect(await broker.history.read('h', { epoch, offset: 8 })).toMatchObject({ complete: true, messages: [] });
      expect(await broker.history.read('h', { epoch: 'other', offset: 6 })).toMatchObject({
        complete: false,
        messages: [],
      });
      expect(await broker.history.read('h', { epoch, offset: 99 })).toMatchObject({ complete: false });
    });

    it('history: trims by age (TTL) and expires idle streams', async () => {
      const keyPrefix = uniquePrefix('ttl');
      const { broker } = await on({ keyPrefix, history: { size: 100, ttlMs: 300 } });
      const r = target.client();
      const first = await broker.publish(request('t'));
      await broker.publish(request('t'));
      await new Promise((resolve) => setTimeout(resolve, 400));
      // expired but not trimmed yet: a read treats them as gone
      const read = await broker.history.read('t', { epoch: first.epoch, offset: 0 });
      expect(read).toMatchObject({ complete: false, messages: [] });
      await broker.publish(request('t'));
      expect(await r.xlen(`${keyPrefix}{t}:s`)).toBe(1); // the publish trimmed the expired ones
      const pttl = await r.pttl(`${keyPrefix}{t}:s`);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(300);
      expect(await r.pttl(`${keyPrefix}{t}:m`)).toBeGreaterThan(3_600_000); // the epoch outlives the history
      const after = await broker.history.read('t', { epoch: first.epoch, offset: 2 });
      expect(after.complete).toBe(true);
      expect(after.messages.map((m) => m.offset)).toEqual([3]);
    });

    it('idempotent publishes: the second one is acknowledged with the original offset and not delivered', async () => {
      const { broker, host } = await on({ keyPrefix: uniquePrefix('idem') });
      await broker.subscribe('i');
      const first = await broker.publish(request('i', { id: 'order-1' }));
      const again = await broker.publish(request('i', { id: 'order-1' }));
      const other = await broker.publish(request('i', { id: 'order-2' }));
      expect(first).toMatchObject({ offset: 1 });
      expect(first.duplicate).toBeUndefined();
      expect(again).toEqual({ epoch: first.epoch, offset: 1, duplicate: true });
      expect(other).toMatchObject({ offset: 2 });
      await waitFor(() => host.got.length === 2);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(host.offsets('i')).toEqual([1, 2]);
    });

    it('key prefixes isolate apps on one Redis: offsets, epochs and pub/sub', async () => {
      const a = await on({ keyPrefix: uniquePrefix('appA') });
      const b = await on({ keyPrefix: uniquePrefix('appB') });
      await a.broker.subscribe('same');
      await b.broker.subscribe('same');
      await a.broker.publish(request('same'));
      await a.broker.publish(request('same'));
      const rb = await b.broker.publish(request('same'));
      expect(rb.offset).toBe(1);
      await waitFor(() => a.host.got.length === 2 && b.host.got.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(a.host.offsets('same')).toEqual([1, 2]);
      expect(b.host.offsets('same')).toEqual([1]);
      expect(a.host.got[0]!.epoch).not.toBe(b.host.got[0]!.epoch);
    });

    it('sharded pub/sub (SSUBSCRIBE/SPUBLISH) delivers across nodes the same way', async () => {
      const keyPrefix = uniquePrefix('sharded');
      const a = await on({ keyPrefix, sharded: true });
      const b = await on({ keyPrefix, sharded: true });
      expect(a.broker.sharded).toBe(true);
      await Promise.all([a.broker.subscribe('s1'), a.broker.subscribe('s2'), b.broker.subscribe('s1')]);
      for (let i = 0; i < 20; i++) await (i % 2 ? a : b).broker.publish(request(i % 4 === 0 ? 's2' : 's1'));
      b.broker.publishVolatile('s1', '{"type":"presence"}');
      await waitFor(() => a.host.got.length === 20 && b.host.got.length === 15 && a.host.volatile.length === 1);
      expect(a.host.offsets('s1')).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
      expect(b.host.offsets('s1')).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
      expect(b.host.offsets('s2')).toEqual([]);
      // the subscriptions are shard channels (SSUBSCRIBE) on the server that holds each channel's keys, not plain ones
      for (const [channel, subscribers] of [
        ['s1', 2],
        ['s2', 1],
      ] as const) {
        const name = `${keyPrefix}{${channel}}`;
        const r = await serverOf(target, name);
        expect(await r.call('PUBSUB', 'SHARDNUMSUB', name)).toEqual([name, subscribers]);
        expect(await r.call('PUBSUB', 'SHARDCHANNELS', `${keyPrefix}*`)).toContain(name);
        expect(await r.call('PUBSUB', 'NUMSUB', name)).toEqual([name, 0]);
      }
    });
  }
});

describe.skipIf(!redisAvailable)('RedisBroker on a single Redis of its own (killed, flushed, inspected)', () => {
  it('the epoch survives a node restart and changes only when the history is lost (FLUSHALL)', async () => {
    const server = await PrivateRedis.start();
    servers.push(server);
    const keyPrefix = uniquePrefix('epoch');
    const first = await makeBroker({ url: server.url, keyPrefix });
    const p1 = await first.broker.publish(request('e'));
    await first.broker.close();
    const second = await makeBroker({ url: server.url, keyPrefix });
    const p2 = await second.broker.publish(request('e'));
    expect(p2).toEqual({ epoch: p1.epoch, offset: 2 });
    await redis(server.url).flushall();
    const position = await second.broker.history.position('e');
    expect(position.epoch).not.toBe(p1.epoch);
    expect(position.offset).toBe(0);
    const read = await second.broker.history.read('e', { epoch: p1.epoch, offset: 2 });
    expect(read).toMatchObject({ complete: false, messages: [], position });
  });

  it('a subscribed node sees an epoch change as a resync and continues', async () => {
    const server = await PrivateRedis.start();
    servers.push(server);
    const { broker, host } = await makeBroker({ url: server.url, keyPrefix: uniquePrefix('resync') });
    await broker.subscribe('r');
    await broker.publish(request('r'));
    await broker.publish(request('r'));
    await waitFor(() => host.got.length === 2);
    await redis(server.url).flushall();
    const after = await broker.publish(request('r'));
    expect(after.offset).toBe(1);
    await waitFor(() => host.got.length === 3);
    expect(host.resyncs).toEqual([{ epoch: after.epoch, offset: 0 }]);
    expect(host.got.map((m) => m.offset)).toEqual([1, 2, 1]);
  });

  it('subscribes at Redis only the channels this node has subscribers for', async () => {
    const keyPrefix = uniquePrefix('subs');
    const { broker } = await makeBroker({ keyPrefix });
    const r = redis();
    await Promise.all(['c1', 'c2', 'c3'].map((c) => broker.subscribe(c)));
    const counts = async () =>
      (await r.call('PUBSUB', 'NUMSUB', ...['c1', 'c2', 'c3', 'c4'].map((c) => `${keyPrefix}{${c}}`))) as (
        | string
        | number
      )[];
    expect((await counts()).filter((_, i) => i % 2 === 1)).toEqual([1, 1, 1, 0]);
    broker.unsubscribe('c2');
    await waitFor(async () => (await counts())[3] === 0, 2000, 'c2 to be unsubscribed');
    const info = (await r.call('CLIENT', 'LIST')) as string;
    const line = info.split('\n').find((l) => l.includes(`unisocket-subscriber-${broker.nodeId}`))!;
    expect(line).toMatch(/ sub=4 /); // c1 and c3, and the two channels of the subscriber-count exchange
  });
});

describe.skipIf(!redisAvailable)('RedisBroker when Redis goes away', () => {
  it('is degraded while Redis is down, queues publishes within the bound, and converges when it returns', async () => {
    const server = await PrivateRedis.start();
    servers.push(server);
    const { broker, host } = await makeBroker({
      url: server.url,
      keyPrefix: uniquePrefix('down'),
      maxReconnectDelayMs: 100,
      maxPendingPublishes: 5,
    });
    const states: string[] = [];
    broker.on('state', (state) => states.push(state));
    await broker.subscribe('d');
    const before = await broker.publish(request('d'));
    await waitFor(() => host.got.length === 1);
    await server.kill();
    await waitFor(() => broker.state === 'degraded', 5000, 'degraded');
    expect(broker.health()).toMatchObject({
      kind: 'redis',
      state: 'degraded',
      detail: expect.stringMatching(/redis/i),
    });
    const queued = Array.from({ length: 5 }, () => broker.publish(request('d')));
    await expect(broker.publish(request('d'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(broker.stats.pendingPublishes).toBe(5);
    await server.start();
    await waitFor(() => broker.state === 'ready', 10_000, 'ready again');
    const results = await Promise.all(queued);
    // this Redis kept nothing: the channel starts a new epoch, and the node is told (resync) before continuing
    expect(results.map((r) => r.offset)).toEqual([1, 2, 3, 4, 5]);
    expect(results[0]!.epoch).not.toBe(before.epoch);
    await waitFor(() => host.got.length === 6, 5000, 'the queued publishes');
    expect(host.resyncs).toEqual([{ epoch: results[0]!.epoch, offset: 0 }]);
    expect(host.offsets('d')).toEqual([1, 1, 2, 3, 4, 5]);
    expect(states).toEqual(['degraded', 'ready']);
  });

  it('fills what it missed while its subscriber connection was away, from history, once and in order', async () => {
    const keyPrefix = uniquePrefix('resub');
    const a = await makeBroker({ keyPrefix, maxReconnectDelayMs: 200 });
    const b = await makeBroker({ keyPrefix });
    await a.broker.subscribe('g');
    await a.broker.subscribe('quiet');
    await b.broker.publish(request('g'));
    await waitFor(() => a.host.got.length === 1);
    const r = redis();
    const list = (await r.call('CLIENT', 'LIST')) as string;
    const id = /id=(\d+) [^\n]*name=unisocket-subscriber-/.exec(
      list.split('\n').find((l) => l.includes(`name=unisocket-subscriber-${a.broker.nodeId}`))!,
    )![1]!;
    await r.call('CLIENT', 'KILL', 'ID', id);
    // published while a's subscriber connection is down: pub/sub drops them for a
    for (let i = 0; i < 5; i++) await b.broker.publish(request('g'));
    await waitFor(() => a.broker.state === 'ready' && a.host.got.length === 6, 10_000, 'a to converge');
    expect(a.host.offsets('g')).toEqual([1, 2, 3, 4, 5, 6]);
    // and it is subscribed again: live messages flow, on both channels
    await b.broker.publish(request('g'));
    await b.broker.publish(request('quiet'));
    await waitFor(() => a.host.got.length === 8);
    expect(a.host.offsets('g')).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(a.host.offsets('quiet')).toEqual([1]);
    expect(a.host.resyncs).toEqual([]);
  });
});

describe.each(targets)('RedisPresenceStore on $name', (target) => {
  const member = (userId: string, info?: unknown): PresenceMember =>
    info === undefined ? { userId } : { userId, info };

  const on = (options: RedisBrokerOptions) => makeBroker({ ...target.brokerOptions(), ...options });
  if (!target.available) it.skip('needs the target', () => {});
  else {
    it('joins and leaves per user across nodes and tabs', async () => {
      const keyPrefix = uniquePrefix('presence');
      const a = (await on({ keyPrefix })).broker.presence;
      const b = (await on({ keyPrefix })).broker.presence;
      expect(await a.add('presence-r', 'c1', member('u1', { n: 1 }))).toEqual({ joined: true, memberCount: 1 });
      expect(await b.add('presence-r', 'c2', member('u1', { n: 2 }))).toEqual({ joined: false, memberCount: 1 });
      expect(await b.add('presence-r', 'c3', member('u2'))).toEqual({ joined: true, memberCount: 2 });
      expect(await a.members('presence-r')).toEqual([member('u1', { n: 2 }), member('u2')]);
      expect(await a.count('presence-r')).toBe(2);
      expect(await a.remove('presence-r', 'c1', 'u1')).toEqual({ left: false, member: member('u1', { n: 2 }) });
      expect(await a.remove('presence-r', 'c1', 'u1')).toEqual({ left: false, member: undefined });
      expect(await b.remove('presence-r', 'c2', 'u1')).toEqual({ left: true, member: member('u1', { n: 2 }) });
      expect(await b.members('presence-r')).toEqual([member('u2')]);
    });

    it("sweeps a dead node's entries after its lease, announcing each leave once even with two sweepers", async () => {
      const keyPrefix = uniquePrefix('sweep');
      const presence = { refreshMs: 50, leaseMs: 150 };
      const dead = await on({ keyPrefix, presence });
      const b = await on({ keyPrefix, presence });
      const c = await on({ keyPrefix, presence });
      const leaves: string[] = [];
      for (const x of [b, c])
        x.broker.on('presence', (ch, action, m) => leaves.push(`${x.broker.nodeId}:${ch}:${action}:${m.userId}`));
      await dead.broker.presence.add('presence-x', 'd1', member('gone'));
      await dead.broker.presence.add('presence-x', 'd2', member('stays'));
      await dead.broker.presence.add('presence-y', 'd3', member('gone'));
      await b.broker.presence.add('presence-x', 'b1', member('stays'));
      // the node dies without a goodbye: it stops refreshing its lease, which then expires
      dead.broker.presence.refresh = async () => {};
      dead.broker.removeAllListeners('presence');
      await waitFor(() => leaves.length >= 2, 5000, 'the sweep');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(leaves.map((l) => l.slice(l.indexOf(':') + 1)).sort()).toEqual([
        'presence-x:leave:gone',
        'presence-y:leave:gone',
      ]);
      expect(await b.broker.presence.members('presence-x')).toEqual([member('stays')]);
      expect(await b.broker.presence.members('presence-y')).toEqual([]);
      expect(await target.client().sismember(`${keyPrefix}nodes`, dead.broker.presence.owner)).toBe(0);
    });

    it('a node whose lease was lost (cut off too long) restores its entries under a new owner and announces the joins', async () => {
      const keyPrefix = uniquePrefix('restore');
      const presence = { refreshMs: 50, leaseMs: 150 };
      const a = await on({ keyPrefix, presence });
      const b = await on({ keyPrefix, presence });
      const events: string[] = [];
      for (const x of [a, b])
        x.broker.on('presence', (_ch, action, m) =>
          events.push(`${x.broker.nodeId === a.broker.nodeId ? 'a' : 'b'}:${action}:${m.userId}`),
        );
      await a.broker.presence.add('presence-z', 'a1', member('u1'));
      const owner = a.broker.presence.owner;
      // as if a was cut off past its lease: the lease expires and b sweeps a's entries
      const refresh = a.broker.presence.refresh;
      a.broker.presence.refresh = async () => {};
      await target.client().del(`${keyPrefix}lease:${owner}`);
      await waitFor(() => events.includes('b:leave:u1'), 5000, 'the sweep');
      expect(await b.broker.presence.members('presence-z')).toEqual([]);
      // a is back: it finds its lease gone, takes a new owner id and restores its live entries
      a.broker.presence.refresh = refresh;
      await waitFor(() => events.includes('a:join:u1'), 5000, 'the restore');
      expect(a.broker.presence.owner).not.toBe(owner);
      expect(await b.broker.presence.members('presence-z')).toEqual([member('u1')]);
      await new Promise((resolve) => setTimeout(resolve, 300)); // b keeps sweeping: the restored entry stays
      expect(events).toEqual(['b:leave:u1', 'a:join:u1']);
      expect(await a.broker.presence.remove('presence-z', 'a1', 'u1')).toEqual({ left: true, member: member('u1') });
    });
  }
});

describe.skipIf(!redisAvailable)('RedisPresenceStore on a single Redis', () => {
  const member = (userId: string, info?: unknown): PresenceMember =>
    info === undefined ? { userId } : { userId, info };

  it('a leave that failed while Redis was unreachable is retried, and announced, once it is back', async () => {
    const keyPrefix = uniquePrefix('retry');
    const a = await makeBroker({ keyPrefix, presence: { refreshMs: 50, leaseMs: 1000 }, maxReconnectDelayMs: 50 });
    const events: string[] = [];
    a.broker.on('presence', (ch, action, m) => events.push(`${ch}:${action}:${m.userId}`));
    await a.broker.presence.add('presence-q', 'q1', member('u1'));
    const r = redis();
    const list = (await r.call('CLIENT', 'LIST')) as string;
    const line = list.split('\n').find((l) => l.includes(`name=unisocket-commands-${a.broker.nodeId}`))!;
    await r.call('CLIENT', 'KILL', 'ID', /id=(\d+)/.exec(line)![1]!);
    await expect(a.broker.presence.remove('presence-q', 'q1', 'u1')).rejects.toThrow();
    await waitFor(() => events.length > 0, 5000, 'the retried leave');
    expect(events).toEqual(['presence-q:leave:u1']);
    expect(await a.broker.presence.members('presence-q')).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events).toEqual(['presence-q:leave:u1']);
  });
});
