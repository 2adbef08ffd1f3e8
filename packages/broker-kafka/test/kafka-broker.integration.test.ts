import { kafkaBrokers, requireService } from '@unisocket/services';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { HEADER_ID, HEADER_IDEMPOTENT, KafkaBroker, type KafkaBrokerOptions, partitionOf } from '../src/index';
import {
  type Recorder,
  deleteTestTopics,
  recorder,
  request,
  sleep,
  testKafka,
  testTopic,
  unique,
  waitFor,
} from './helpers';

// KAFKA_BROKERS, else 127.0.0.1:KAFKA_PORT: the broker requireService checked
const BROKERS = kafkaBrokers();
const kafkaUp = await requireService('kafka');

const brokers: KafkaBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});
afterAll(deleteTestTopics);

async function node(
  topic: string,
  nodeId: string,
  options: KafkaBrokerOptions = {},
): Promise<{ broker: KafkaBroker; host: Recorder; errors: Error[] }> {
  const broker = new KafkaBroker({ brokers: BROKERS, topic, nodeId, partitions: 3, ...options });
  const host = recorder();
  const errors: Error[] = [];
  broker.attach(host);
  broker.on('error', (e) => errors.push(e));
  brokers.push(broker);
  await broker.start();
  return { broker, host, errors };
}

describe('KafkaBroker options', () => {
  it('refuses bad options with a TypeError that says what to change', () => {
    expect(() => new KafkaBroker({ topic: 'a b' })).toThrow(/topic must be a Kafka topic name/);
    expect(() => new KafkaBroker({ partitions: 0 })).toThrow(/partitions must be a positive integer/);
    expect(() => new KafkaBroker({ replicationFactor: 0 })).toThrow(
      /replicationFactor must be a positive integer or -1/,
    );
    expect(() => new KafkaBroker({ brokers: ['nohost'] })).toThrow(/"host:port"/);
    expect(() => new KafkaBroker({ sasl: { mechanism: 'plain' } as never })).toThrow(/needs a username and a password/);
    expect(() => new KafkaBroker({ readBack: { maxRecords: -1 } })).toThrow(
      /readBack.maxRecords must be a positive integer/,
    );
    expect(() => new KafkaBroker({ bogus: 1 } as never)).toThrow(/unknown KafkaBroker option "bogus"/);
    expect(() => new KafkaBroker({ history: { size: -1 } })).toThrow(/history.size/);
    expect(() => new KafkaBroker({ idempotencyWindowMs: 0 })).toThrow(/idempotencyWindowMs must be a positive integer/);
    expect(() => new KafkaBroker({ idempotencyCacheSize: 1.5 })).toThrow(
      /idempotencyCacheSize must be a positive integer/,
    );
  });

  it('takes the idempotency and delivered-id options by their names, and by their deprecated names with one warning each', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const current = new KafkaBroker({ idempotencyCacheSize: 5, idempotencyWindowMs: 1_000, deliveredIdsWindow: 50 });
      await current.close();
      expect(warn).not.toHaveBeenCalled();
      expect(() => new KafkaBroker({ dedupeCacheSize: 5, idempotencyCacheSize: 6 })).toThrow(
        /keep idempotencyCacheSize and remove dedupeCacheSize/,
      );
      expect(() => new KafkaBroker({ dedupeWindow: 5, deliveredIdsWindow: 6 })).toThrow(
        /keep deliveredIdsWindow and remove dedupeWindow/,
      );
      expect(() => new KafkaBroker({ dedupeWindowMs: 0 })).toThrow(/idempotencyWindowMs must be a positive integer/);
      for (let i = 0; i < 2; i++)
        await new KafkaBroker({ dedupeCacheSize: 5, dedupeWindowMs: 1_000, dedupeWindow: 50 }).close();
      const codes = warn.mock.calls.map((call) => (call[1] as { code?: string } | undefined)?.code);
      for (const code of [
        'UNISOCKET_DEP_DEDUPE_CACHE_SIZE',
        'UNISOCKET_DEP_DEDUPE_WINDOW_MS',
        'UNISOCKET_DEP_DEDUPE_WINDOW',
      ]) {
        expect(codes.filter((c) => c === code)).toHaveLength(1);
      }
    } finally {
      warn.mockRestore();
    }
  });

  it('fails to start with a clear error when Kafka cannot be reached', async () => {
    const broker = new KafkaBroker({
      brokers: ['127.0.0.1:1'],
      topic: unique('nowhere'),
      connectionTimeoutMs: 200,
      startTimeoutMs: 2_000,
    });
    await expect(broker.start()).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: /the Kafka broker cannot start/,
    });
    await broker.close();
  });
});

describe.skipIf(!kafkaUp)('KafkaBroker on a real Kafka', () => {
  it('delivers across nodes in per-channel order; offsets are Kafka offsets + 1 in an epoch naming the partition', async () => {
    const topic = testTopic('order', BROKERS);
    const a = await node(topic, 'a');
    const b = await node(topic, 'b');
    const partition = partitionOf('x', 3);
    await Promise.all([a.broker.subscribe('x'), b.broker.subscribe('x')]);
    const results = [];
    for (let i = 0; i < 20; i++) results.push((i % 2 === 0 ? a : b).broker.publish(request('x', { data: i })));
    const acks = await Promise.all(results);
    await waitFor(() => a.host.got.length === 20 && b.host.got.length === 20, 20_000, 'both nodes to receive 20');
    const offsets = a.host.offsets('x');
    expect(b.host.offsets('x')).toEqual(offsets);
    expect(offsets).toEqual([...offsets].sort((p, q) => p - q));
    expect(new Set(offsets).size).toBe(20);
    // what each publisher was told is where its record is, and the line carries that offset
    for (const ack of acks) expect(offsets).toContain(ack.offset);
    expect(
      a.host.got
        .map((m) => JSON.parse(m.line) as { offset: number; data: number })
        .every((f, i) => f.offset === offsets[i]),
    ).toBe(true);
    const epoch = acks[0]!.epoch;
    expect(epoch).toMatch(new RegExp(`^${topic.replace(/\./g, '\\.')}:${partition}:[0-9a-z]+$`));
    expect(new Set(acks.map((r) => r.epoch))).toEqual(new Set([epoch]));
    // Kafka agrees: the partition's end is the last wire offset
    const admin = testKafka(BROKERS).admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    expect(Number(ends.find((o) => o.partition === partition)!.high)).toBe(Math.max(...offsets));
    // a channel never published on, in the same partition, starts at the partition's end
    const sibling = Array.from({ length: 50 }, (_, i) => `c${i}`).find((c) => partitionOf(c, 3) === partition)!;
    expect(b.broker.history.position(sibling)).toEqual({ epoch, offset: Math.max(...offsets) });
    expect(a.errors).toEqual([]);
  });

  it('answers a repeated idempotency key with the original, on the same node and on another; a duplicate record is delivered once', async () => {
    const topic = testTopic('idem', BROKERS);
    const a = await node(topic, 'a');
    const b = await node(topic, 'b');
    await Promise.all([a.broker.subscribe('orders'), b.broker.subscribe('orders')]);
    const first = await a.broker.publish(request('orders', { id: 'order-1' }));
    expect(first.duplicate).toBeUndefined();
    expect(await a.broker.publish(request('orders', { id: 'order-1' }))).toEqual({ ...first, duplicate: true });
    await waitFor(() => b.host.got.length === 1);
    // b consumed a's record: it knows the key too
    expect(await b.broker.publish(request('orders', { id: 'order-1' }))).toEqual({ ...first, duplicate: true });
    // a record repeating the key that slipped through (another node published it before consuming the original)
    const producer = testKafka(BROKERS).producer();
    await producer.connect();
    const again = request('orders', { id: 'order-1' });
    await producer.send({
      topic,
      messages: [
        {
          key: 'orders',
          value: again.head,
          partition: partitionOf('orders', 3),
          headers: { [HEADER_ID]: 'order-1', [HEADER_IDEMPOTENT]: '1' },
        },
      ],
    });
    await producer.disconnect();
    const next = await a.broker.publish(request('orders', { data: 'after' }));
    await waitFor(
      () => a.host.offsets('orders').includes(next.offset) && b.host.offsets('orders').includes(next.offset),
    );
    expect(a.host.got.map((m) => m.id)).toEqual(['order-1', expect.not.stringMatching(/^order-1$/)]);
    expect(b.host.got).toHaveLength(2);
    const read = b.broker.history.read('orders', { epoch: first.epoch, offset: 0 });
    expect('then' in read).toBe(false);
    expect((read as { messages: { id: string }[] }).messages.map((m) => m.id)).toEqual(['order-1', a.host.got[1]!.id]);
  });

  it('delivers volatile lines live to subscribed nodes and never keeps them in history', async () => {
    const topic = testTopic('volatile', BROKERS);
    const a = await node(topic, 'a');
    const b = await node(topic, 'b');
    await b.broker.subscribe('presence-room');
    a.broker.publishVolatile(
      'presence-room',
      '{"type":"presence","channel":"presence-room","action":"join","member":{"userId":"u"}}',
    );
    await waitFor(() => b.host.volatile.length === 1);
    const position = b.broker.history.position('presence-room');
    expect(position.offset).toBeGreaterThan(0); // the line took a partition offset...
    expect(
      b.broker.history.read('presence-room', { epoch: position.epoch, offset: position.offset - 1 }),
    ).toMatchObject({
      complete: true,
      messages: [], // ...but is no message of the channel
    });
  });

  it('neither loses nor repeats a message when its consumer group rebalances (a member joins, takes partitions, leaves)', async () => {
    const topic = testTopic('rebalance', BROKERS);
    const a = await node(topic, 'a');
    // one channel in each partition, so whatever the intruder is handed carries messages
    const channels = [0, 1, 2].map(
      (p) => Array.from({ length: 60 }, (_, i) => `ch${i}`).find((c) => partitionOf(c, 3) === p)!,
    );
    await Promise.all(channels.map((c) => a.broker.subscribe(c)));
    let sent = 0;
    let stop = false;
    const publishing = (async () => {
      while (!stop) {
        await a.broker.publish(request(channels[sent % 3]!, { data: sent }));
        sent++;
        await sleep(20);
      }
    })();
    const intruder = testKafka(BROKERS).consumer({ groupId: a.broker.groupId, maxWaitTimeInMs: 100 });
    await intruder.connect();
    await intruder.subscribe({ topic, fromBeginning: false });
    let intruderSaw = 0;
    await intruder.run({ autoCommit: true, eachMessage: async () => void intruderSaw++ });
    await waitFor(() => intruderSaw >= 5, 30_000, 'the intruder to be handed partitions');
    await intruder.disconnect();
    await sleep(500);
    stop = true;
    await publishing;
    await waitFor(() => a.host.got.length >= sent, 30_000, `all ${sent} messages`);
    await sleep(300);
    for (const [k, channel] of channels.entries()) {
      const data = a.host.got
        .filter((m) => m.channel === channel)
        .map((m) => (JSON.parse(m.line) as { data: number }).data);
      expect(data).toEqual(Array.from({ length: Math.ceil((sent - k) / 3) }, (_, i) => i * 3 + k));
    }
    expect(a.host.got).toHaveLength(sent);
    expect(a.broker.stats.duplicates).toBe(0);
  });

  it('starts a new epoch when the topic is deleted and recreated, and resyncs the subscribers of its channels', async () => {
    const topic = testTopic('recreate', BROKERS);
    const a = await node(topic, 'a', { unavailableAfterMs: 1_000, topologyCheckMs: 500 });
    await a.broker.subscribe('x');
    const before = await a.broker.publish(request('x'));
    await waitFor(() => a.host.got.length === 1);
    const admin = testKafka(BROKERS).admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
    // the node notices (consumer errors, topology check), recreates the topic and writes new epoch markers
    await waitFor(
      async () => (await admin.listTopics()).includes(topic) && a.broker.history.position('x').epoch !== before.epoch,
      60_000,
      'a new epoch',
    );
    await admin.disconnect();
    await waitFor(() => a.broker.state === 'ready', 30_000, 'ready again');
    const after = await a.broker.publish(request('x'));
    expect(after.epoch).not.toBe(before.epoch);
    await waitFor(() => a.host.got.length === 2, 20_000, 'the message of the new epoch');
    expect(a.host.got[1]!.epoch).toBe(after.epoch);
    expect(a.host.resyncs.some((r) => r.channel === 'x' && r.position.epoch === after.epoch)).toBe(true);
    // a position of the old epoch is not recoverable
    expect(await a.broker.history.read('x', { epoch: before.epoch, offset: before.offset })).toMatchObject({
      complete: false,
    });
  });
});
