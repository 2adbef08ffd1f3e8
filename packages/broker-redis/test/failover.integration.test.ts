import {
  type BrokerHost,
  type PublishRequest,
  type StreamMessage,
  type StreamPosition,
  messageHead,
} from '@unisocket/core';
import { type Cluster, type ClusterOptions, Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, onTestFailed, vi } from 'vitest';
import { RedisBroker, type RedisBrokerOptions } from '../src/index';
import { TestClient } from './client';
import { NodeProcess } from './nodes';
import { deleteTestKeys, uniquePrefix, waitFor } from './redis';
import { redisTargets } from './targets';

// A master of a real Redis Cluster dies (SIGKILL) while two unisocket nodes (child processes) publish and clients
// receive a live stream; its replica is promoted. Redis replication is asynchronous, so what the dead master
// acknowledged last may be gone: every acknowledged publish must then be delivered exactly once and in order, or its
// loss signalled (a resync / `recovered: false`), never a silent gap or a duplicate — and the nodes keep serving.

const [, target] = await redisTargets();
const cluster = target!.cluster;

const nodes: NodeProcess[] = [];
const clients: TestClient[] = [];
const brokers: RedisBroker[] = [];
const direct: Redis[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(nodes.splice(0).map((n) => n.kill('SIGKILL')));
  await Promise.all(brokers.splice(0).map((b) => b.close()));
  for (const r of direct.splice(0)) r.disconnect();
});
afterAll(() => deleteTestKeys());

async function client(url: string): Promise<TestClient> {
  const c = await TestClient.open(url);
  clients.push(c);
  return c;
}

interface Ack {
  channel: string;
  epoch: string;
  offset: number;
  seq: number;
}

describe.skipIf(!target!.available)('failover of a Redis Cluster master under a live stream', () => {
  it('nodes keep serving; every acknowledged publish is delivered once and in order, or its loss is signalled', async () => {
    const keyPrefix = uniquePrefix('failover');
    // one channel on the master that dies, one on another master
    const doomed = 'doomed';
    const doomedMaster = await cluster!.masterOf(`${keyPrefix}{${doomed}}`);
    let other = '';
    for (let i = 0; other === ''; i++) {
      const master = await cluster!.masterOf(`${keyPrefix}{calm${i}}`);
      if (master.port !== doomedMaster.port) other = `calm${i}`;
    }
    const channels = [doomed, other];
    const [a, b] = await Promise.all(
      ['fa', 'fb'].map((nodeId) =>
        NodeProcess.start({ nodeId, keyPrefix, redisEnv: target!.nodeEnv(), historySize: 5000 }),
      ),
    );
    nodes.push(a!, b!);
    onTestFailed(() => {
      for (const n of [a!, b!]) if (n.stderr !== '') console.error(`--- ${n.nodeId} stderr ---\n${n.stderr}`);
    });
    const live = [await client(a!.url()), await client(b!.url()), await client(a!.url())];
    for (const l of live) for (const ch of channels) expect(await l.subscribe(ch)).toMatchObject({ type: 'ack' });
    // a client that leaves before the failover and resumes after it
    const away = await client(b!.url());
    for (const ch of channels) await away.subscribe(ch);

    for (const n of [a!, b!]) n.startLoop(channels, 8);
    await waitFor(() => live.every((l) => l.channels.get(doomed)!.offsets.length >= 20), 10_000, 'the live stream');
    away.terminate();
    const killed = await cluster!.killMaster(`${keyPrefix}{${doomed}}`);
    expect(killed.port).toBe(doomedMaster.port);
    const killedAt = Date.now();
    await cluster!.waitUntilHealthy({ timeoutMs: 30_000 });
    // publishes on the failed shard succeed again within a bound
    await waitFor(
      async () => (await a!.request<{ ok: boolean }>({ type: 'publish', channel: doomed, data: 'probe' })).ok,
      20_000,
      'a publish on the failed-over shard to succeed',
    );
    const recoveredAfterMs = Date.now() - killedAt;
    await new Promise((resolve) => setTimeout(resolve, 500)); // more of the stream on the new master
    const stopped = await Promise.all([a!, b!].map((n) => n.stopLoop()));
    for (const n of [a!, b!]) expect(n.alive).toBe(true);
    await waitFor(
      async () => (await Promise.all([a!, b!].map((n) => n.health()))).every((h) => h.status === 'healthy'),
      10_000,
      'both nodes healthy',
    );

    const acks = new Map<string, Ack[]>(); // by publisher tag
    acks.set(a!.nodeId, stopped[0]!.acks);
    acks.set(b!.nodeId, stopped[1]!.acks);
    const errors = stopped[0]!.errors + stopped[1]!.errors;
    // publishes on the shard that did not fail never failed (the loop alternates: odd seqs are on `other`)
    for (const list of acks.values()) {
      const acked = new Set(list.filter((x) => x.channel === other).map((x) => x.seq));
      const top = Math.max(...list.map((x) => x.seq));
      const refusedOther = [];
      for (let seq = 1; seq <= top; seq += 2) if (!acked.has(seq)) refusedOther.push(seq);
      expect(refusedOther).toEqual([]);
    }
    // the last acknowledged publish of each channel reached every live client
    const lastAck = (ch: string): Ack =>
      [...acks.values()]
        .flat()
        .filter((x) => x.channel === ch)
        .sort((x, y) => y.seq - x.seq)[0]!;
    await waitFor(
      () =>
        live.every((l) =>
          channels.every((ch) => {
            const want = lastAck(ch);
            return l.messages(ch).some((m) => (m.data as { seq: number }).seq === want.seq);
          }),
        ),
      15_000,
      'every live client to converge',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));

    let lostSignalled = 0;
    for (const l of live) {
      expect(l.violations).toEqual([]); // offsets in order within each epoch, no gap that was not resynced
      for (const ch of channels) {
        const got = l
          .messages(ch)
          .map((m) => m.data)
          .filter((d): d is { tag: string; seq: number } => typeof d === 'object' && d !== null);
        const keys = got.map((d) => `${d.tag}:${d.seq}`);
        expect(new Set(keys).size).toBe(keys.length); // never a duplicate
        const resyncs = l.frames.filter((f) => f.type === 'resync' && f.channel === ch);
        for (const [tag, list] of acks) {
          // (concurrent publishes of one node are not ordered among themselves: the offsets are the order)
          const seqs = got.filter((d) => d.tag === tag).map((d) => d.seq);
          const missing = list.filter((x) => x.channel === ch && !seqs.includes(x.seq));
          if (missing.length === 0) continue;
          // an acknowledged publish that never arrived: lost with the dead master, and the client was told
          expect(ch).toBe(doomed);
          expect(resyncs.length).toBeGreaterThanOrEqual(1);
          const finalEpoch = l.channels.get(ch)!.epoch;
          for (const x of missing) expect(x.epoch).not.toBe(finalEpoch);
          lostSignalled += missing.length;
        }
      }
      // the failed shard's master changed: its channel started a new epoch, and every client was told so
      expect(l.frames.filter((f) => f.type === 'resync' && f.channel === doomed).length).toBeGreaterThanOrEqual(1);
      // the channel on a master that did not fail never resyncs
      expect(l.frames.filter((f) => f.type === 'resync' && f.channel === other)).toEqual([]);
    }
    // the client that was away resumes: fully recovered, or told it is not
    const back = await client(a!.url());
    for (const ch of channels) {
      const track = away.channels.get(ch)!;
      const ack = await back.request({
        type: 'subscribe',
        channel: ch,
        since: { epoch: track.epoch, offset: track.last },
      });
      expect(ack).toMatchObject({ type: 'ack' });
      expect(ack).toMatchObject(ch === other ? { recovered: true } : { recovered: false });
      if (ch === doomed) expect(ack.epoch).not.toBe(track.epoch);
    }
    console.log(
      `failover: publishes on the failed shard succeeded again ${recoveredAfterMs} ms after the kill; ` +
        `${[...acks.values()].flat().length} acknowledged, ${errors} refused (UNAVAILABLE), ` +
        `${lostSignalled} acknowledged-but-lost deliveries signalled by a resync`,
    );
  });
});

interface Recorder extends BrokerHost {
  got: StreamMessage[];
  resyncs: StreamPosition[];
}

async function broker(options: RedisBrokerOptions): Promise<{ broker: RedisBroker; host: Recorder }> {
  const b = new RedisBroker({ ...target!.brokerOptions(), gapTimeoutMs: 20, ...options });
  const got: StreamMessage[] = [];
  const resyncs: StreamPosition[] = [];
  const host: Recorder = {
    got,
    resyncs,
    dispatch: (m) => got.push(m),
    dispatchVolatile: () => {},
    resync: (_c, p) => resyncs.push(p),
  };
  b.attach(host);
  b.on('error', () => {});
  brokers.push(b);
  await b.start();
  return { broker: b, host };
}

let counter = 0;
function request(channel: string): PublishRequest {
  const id = `f-${counter++}`;
  const ts = Date.now();
  return { channel, id, head: messageHead(channel, 'e', JSON.stringify(counter), id, ts), ts, idempotent: false };
}

describe.skipIf(!target!.available)('writes a dead master acknowledged but never replicated', () => {
  it('the promoted replica starts a new epoch: no offset is handed out twice, subscribers resync', async () => {
    const keyPrefix = uniquePrefix('lostwrites');
    const key = `${keyPrefix}{lost}`;
    const pub = await broker({ keyPrefix });
    const sub = await broker({ keyPrefix });
    await sub.broker.subscribe('lost');
    const first = await pub.broker.publish(request('lost'));
    for (let i = 0; i < 2; i++) await pub.broker.publish(request('lost'));
    const master = await cluster!.masterOf(key);
    // offsets 1..3 reached the replica
    const replicas = (await connect(master.port).call('CLUSTER', 'REPLICAS', master.id)) as string[];
    const replicaPort = Number(/:(\d+)@/.exec(replicas[0]!)![1]);
    const replica = connect(replicaPort);
    await replica.call('READONLY');
    await waitFor(async () => (await replica.hget(`${key}:m`, 'o')) === '3', 5_000, 'the replica to have offset 3');
    // cut the replica's link (it reconnects within about a second), publish 4 and 5, and kill the master at once:
    // they were acknowledged, and delivered live, but the replica never got them
    await connect(master.port).call('CLIENT', 'KILL', 'TYPE', 'replica');
    const lost = [await pub.broker.publish(request('lost')), await pub.broker.publish(request('lost'))];
    await cluster!.killMaster(key);
    expect(lost.map((x) => [x.epoch, x.offset])).toEqual([
      [first.epoch, 4],
      [first.epoch, 5],
    ]);
    await waitFor(() => sub.host.got.length === 5, 5_000, 'the live messages');
    await cluster!.waitUntilHealthy({ timeoutMs: 30_000 });
    expect((await cluster!.masterOf(key)).port).toBe(replicaPort);
    let after: { epoch: string; offset: number } | undefined;
    await waitFor(
      async () => {
        after = await Promise.resolve(pub.broker.publish(request('lost'))).catch(() => undefined);
        return after !== undefined;
      },
      15_000,
      'a publish on the promoted replica',
    );
    // offset 4 of the old epoch is not handed out again (the subscriber would drop it as a duplicate: a silent gap)
    expect(after!.epoch).not.toBe(first.epoch);
    expect(after!.offset).toBe(1);
    await waitFor(() => sub.host.got.length === 6, 10_000, 'the first message of the new epoch');
    expect(sub.host.resyncs).toEqual([{ epoch: after!.epoch, offset: 0 }]);
    expect(sub.host.got.map((m) => [m.epoch === first.epoch, m.offset])).toEqual([
      [true, 1],
      [true, 2],
      [true, 3],
      [true, 4],
      [true, 5],
      [false, 1],
    ]);
    // and a client resuming from the old epoch is told it cannot recover
    const read = await sub.broker.history.read('lost', { epoch: first.epoch, offset: 5 });
    expect(read).toMatchObject({ complete: false, messages: [], position: { epoch: after!.epoch } });
  });
});

describe.skipIf(!target!.available)('the Cluster connections the broker makes', () => {
  it('never re-send a command whose master died (it may have run), and follow a new topology at once', async () => {
    const template = target!.brokerOptions().redis as Cluster;
    const duplicate = vi.spyOn(template, 'duplicate');
    const { broker: b } = await broker({ redis: template, keyPrefix: uniquePrefix('options') });
    const [commands, subscriber] = duplicate.mock.calls.map((call) => call[1] as ClusterOptions);
    // ioredis re-sends a command whose node connection closed after `retryDelayOnFailover`: a publish that ran on the
    // dead master before its reply was lost would be applied twice
    expect(commands).toMatchObject({ retryDelayOnFailover: 0, enableOfflineQueue: false });
    expect(subscriber).toMatchObject({ shardedSubscribers: true });
    for (const options of [commands, subscriber]) {
      // per-node retry and offline queue are ioredis's own on a Cluster (a dead node is dropped, not retried forever)
      expect(options!.redisOptions).not.toHaveProperty('retryStrategy');
      expect(options!.redisOptions).not.toHaveProperty('enableOfflineQueue');
      expect(options!.redisOptions).toMatchObject({ maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false });
    }
    expect(b.sharded).toBe(true);
  });
});

function connect(port: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port });
  r.on('error', () => {}); // the master this test kills
  direct.push(r);
  return r;
}
