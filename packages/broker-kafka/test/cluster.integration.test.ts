import { kafkaBrokers, requireService } from '@unisocket/services';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Frame,
  type NodeProcess,
  RawClient,
  deleteTestTopics,
  sleep,
  startNode,
  testKafka,
  testTopic,
  unique,
  waitFor,
} from './helpers';

// Nodes in separate processes (test/fixtures/node.mjs: a Hub on a KafkaBroker behind the native WebSocket transport,
// built from the packages' dist), on the shared Kafka (kafkaBrokers(): KAFKA_BROKERS, else 127.0.0.1:KAFKA_PORT — the
// address requireService checks), each suite on topics of its own.
const BROKERS = kafkaBrokers();
const kafkaUp = await requireService('kafka');

const clients: RawClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(deleteTestTopics);

async function client(node: NodeProcess): Promise<RawClient> {
  const c = await RawClient.open(node.url);
  clients.push(c);
  return c;
}

const dataOf = (frames: Frame[]): unknown[] => frames.map((f) => f.data);

describe.skipIf(!kafkaUp)('three nodes in separate processes on Kafka', () => {
  const topic = testTopic('cluster', BROKERS);
  const nodes: NodeProcess[] = [];
  const late: NodeProcess[] = [];

  beforeAll(async () => {
    // the first node creates the topic and its epoch markers; the others find them
    nodes.push(await startNode({ TOPIC: topic, NODE_ID: 'n1', PARTITIONS: '3' }));
    nodes.push(...(await Promise.all(['n2', 'n3'].map((id) => startNode({ TOPIC: topic, NODE_ID: id })))));
  });

  afterAll(async () => {
    await Promise.all([...nodes, ...late].map((n) => n.stop()));
  });

  it('delivers every message to every node, each channel in one order everywhere, each publisher in its order', async () => {
    const channels = ['room.a', 'room.b'];
    const subscribers = await Promise.all(nodes.map((n) => client(n)));
    for (const c of subscribers)
      for (const channel of channels)
        expect(await c.request({ type: 'subscribe', channel })).toMatchObject({ type: 'ack', channel });
    const perNode = 25;
    await Promise.all(
      nodes.map(async (n) => {
        for (let i = 0; i < perNode; i++) {
          for (const channel of channels) {
            const ack = await n.publish(channel, { node: n.nodeId, i });
            expect(ack.status).toBe(200);
          }
        }
      }),
    );
    const total = perNode * nodes.length;
    await waitFor(
      () => subscribers.every((c) => channels.every((ch) => c.messages(ch).length >= total)),
      30_000,
      'every message everywhere',
    );
    await sleep(200);
    for (const channel of channels) {
      const reference = subscribers[0]!.messages(channel);
      expect(reference).toHaveLength(total);
      const ids = reference.map((f) => f.id);
      expect(new Set(ids).size).toBe(total);
      const offsets = reference.map((f) => f.offset as number);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      for (const c of subscribers) expect(c.messages(channel).map((f) => f.id)).toEqual(ids);
      for (const n of nodes) {
        const mine = reference
          .filter((f) => (f.data as { node: string }).node === n.nodeId)
          .map((f) => (f.data as { i: number }).i);
        expect(mine).toEqual(Array.from({ length: perNode }, (_, i) => i));
      }
    }
  });

  it("recovers a client on another node from that node's window: exactly the missed messages, then live", async () => {
    const [n1, n2, n3] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const first = await client(n2);
    const ack = await first.request({ type: 'subscribe', channel: 'news' });
    for (let i = 1; i <= 3; i++) await n1.publish('news', i);
    await waitFor(() => first.messages('news').length === 3);
    const seen = first.messages('news').at(-1)!;
    first.close();
    for (let i = 4; i <= 6; i++) await n1.publish('news', i);
    const again = await client(n3);
    await sleep(300); // n3 has consumed 4..6 by now (they are in its window)
    const recovered = await again.request({
      type: 'subscribe',
      channel: 'news',
      since: { epoch: ack.epoch, offset: seen.offset },
    });
    expect(recovered).toMatchObject({ type: 'ack', recovered: true, epoch: ack.epoch });
    await waitFor(() => again.messages('news').length === 3);
    await n2.publish('news', 7);
    await waitFor(() => again.messages('news').length === 4);
    expect(dataOf(again.messages('news'))).toEqual([4, 5, 6, 7]);
  });

  it('recovers by reading back from Kafka on a node that started after the messages; says recovered:false without read-back or beyond its bound', async () => {
    const n1 = nodes[0]!;
    const watcher = await client(n1);
    const ack = await watcher.request({ type: 'subscribe', channel: 'history' });
    for (let i = 1; i <= 5; i++) await n1.publish('history', i);
    // other channels of the same partitions keep flowing in between
    for (let i = 0; i < 20; i++) await n1.publish(`noise.${i}`, i);
    await waitFor(() => watcher.messages('history').length === 5);
    const second = watcher.messages('history')[1]!;
    // nodes started now have nothing of that in their window
    const [readBack, plain, bounded] = await Promise.all([
      startNode({ TOPIC: topic, NODE_ID: 'late-rb', READ_BACK: '1' }),
      startNode({ TOPIC: topic, NODE_ID: 'late-plain' }),
      startNode({ TOPIC: topic, NODE_ID: 'late-bounded', READ_BACK: '1', READ_BACK_MAX_RECORDS: '3' }),
    ]);
    late.push(readBack, plain, bounded);
    const since = { epoch: ack.epoch, offset: second.offset };

    const viaKafka = await client(readBack);
    expect(await viaKafka.request({ type: 'subscribe', channel: 'history', since })).toMatchObject({
      recovered: true,
      epoch: ack.epoch,
    });
    await waitFor(() => viaKafka.messages('history').length === 3);
    expect(dataOf(viaKafka.messages('history'))).toEqual([3, 4, 5]);
    expect(viaKafka.messages('history').map((f) => f.offset)).toEqual(
      watcher
        .messages('history')
        .slice(2)
        .map((f) => f.offset),
    );
    await n1.publish('history', 6);
    await waitFor(() => viaKafka.messages('history').length === 4);
    expect(dataOf(viaKafka.messages('history'))).toEqual([3, 4, 5, 6]);

    for (const node of [plain, bounded]) {
      const c = await client(node);
      const answer = await c.request({ type: 'subscribe', channel: 'history', since });
      expect(answer).toMatchObject({ recovered: false, epoch: ack.epoch });
      await sleep(200);
      expect(c.messages('history')).toEqual([]); // never a partial replay presented as complete
    }
    // a position the node's window covers (6 was consumed after it started) is answered without reading back
    await n1.publish('history', 7);
    await waitFor(() => viaKafka.messages('history').length === 5);
    const before = (await readBack.health()).history as { readBacks: number };
    const recent = await client(readBack);
    const sixth = viaKafka.messages('history').at(-2)!;
    expect(
      await recent.request({
        type: 'subscribe',
        channel: 'history',
        since: { epoch: ack.epoch, offset: sixth.offset },
      }),
    ).toMatchObject({ recovered: true });
    await waitFor(() => recent.messages('history').length === 1);
    expect(dataOf(recent.messages('history'))).toEqual([7]);
    expect(((await readBack.health()).history as { readBacks: number }).readBacks).toBe(before.readBacks);
  });
});

describe.skipIf(!kafkaUp)('KafkaBridge on nodes in separate processes', () => {
  const topic = testTopic('bridged', BROKERS);
  const inbound = testTopic('in', BROKERS);
  const outbound = testTopic('out', BROKERS);
  const groupId = unique('bridge-group');
  const nodes: NodeProcess[] = [];

  beforeAll(async () => {
    const admin = testKafka(BROKERS).admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: inbound, numPartitions: 4 },
        { topic: outbound, numPartitions: 1 },
      ],
    });
    await admin.disconnect();
    const bridge = JSON.stringify({
      topics: { [inbound]: 'feed' },
      groupId,
      forward: [{ channels: 'orders.*', topic: outbound }],
    });
    nodes.push(await startNode({ TOPIC: topic, NODE_ID: 'b1', PARTITIONS: '3', BRIDGE: bridge }));
    nodes.push(await startNode({ TOPIC: topic, NODE_ID: 'b2', BRIDGE: bridge }));
    nodes.push(await startNode({ TOPIC: topic, NODE_ID: 'b3' })); // no bridge: receives through the broker
    // both bridges in the group, the partitions split between them
    await sleep(1_000);
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('streams a topic into a channel: each record broadcast once, by the node that consumed it, to every node; an undecodable record is reported and skipped', async () => {
    const subscribers = await Promise.all(nodes.map((n) => client(n)));
    for (const c of subscribers) await c.request({ type: 'subscribe', channel: 'feed' });
    const producer = testKafka(BROKERS).producer();
    await producer.connect();
    const values: string[] = [];
    for (let i = 0; i < 24; i++) values.push(i === 10 ? '{not json' : JSON.stringify({ seq: i }));
    await producer.send({
      topic: inbound,
      messages: values.map((value, i) => ({ partition: i % 4, value, headers: i === 5 ? { event: 'special' } : {} })),
    });
    await producer.disconnect();
    await waitFor(
      () => subscribers.every((c) => c.messages('feed').length >= 23),
      30_000,
      'the bridged records on every node',
    );
    await sleep(500);
    for (const c of subscribers) {
      const frames = c.messages('feed');
      expect(frames).toHaveLength(23); // once each, the undecodable one skipped
      const seqs = frames.map((f) => (f.data as { seq: number }).seq);
      expect(new Set(seqs).size).toBe(23);
      expect(seqs).not.toContain(10);
      // a partition's records keep their order
      for (let p = 0; p < 4; p++) {
        const mine = seqs.filter((s) => s % 4 === p);
        expect(mine).toEqual([...mine].sort((a, b) => a - b));
      }
      expect(frames.find((f) => (f.data as { seq: number }).seq === 5)!.event).toBe('special');
      expect(frames.find((f) => (f.data as { seq: number }).seq === 6)!.event).toBe('message');
    }
    const stats = await Promise.all(nodes.slice(0, 2).map((n) => n.bridgeStats()));
    expect(stats[0]!.broadcast + stats[1]!.broadcast).toBe(23);
    expect(stats[0]!.broadcast).toBeGreaterThan(0); // the group spread the partitions over both bridges
    expect(stats[1]!.broadcast).toBeGreaterThan(0);
    expect(stats[0]!.undecodable + stats[1]!.undecodable).toBe(1);
    const reports = (await Promise.all(nodes.slice(0, 2).map((n) => n.health()))).flatMap((h) => h.errors as string[]);
    expect(reports.filter((e) => /bridge decode: record does not decode/.test(e))).toHaveLength(1);
  });

  it('forwards client publishes on matching channels to a Kafka topic, once', async () => {
    const consumer = testKafka(BROKERS).consumer({ groupId: unique('reader'), maxWaitTimeInMs: 100 });
    const received: { key: string | null; value: Record<string, unknown>; headers: Record<string, string> }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: outbound, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        received.push({
          key: message.key?.toString() ?? null,
          value: JSON.parse(message.value!.toString()) as Record<string, unknown>,
          headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
        });
      },
    });
    try {
      const c = await client(nodes[0]!);
      const ack = await c.request({
        type: 'publish',
        channel: 'orders.eu',
        event: 'placed',
        data: { sku: 'A-1', qty: 2 },
      });
      expect(ack).toMatchObject({ type: 'ack', channel: 'orders.eu' });
      expect(
        await c.request({ type: 'publish', channel: 'chat.lobby', event: 'say', data: 'not forwarded' }),
      ).toMatchObject({ type: 'ack' });
      // a repeated idempotency key is not published again, so not forwarded again
      await c.request({ type: 'publish', channel: 'orders.us', event: 'placed', data: { sku: 'B-2' }, id: 'order-42' });
      expect(
        await c.request({
          type: 'publish',
          channel: 'orders.us',
          event: 'placed',
          data: { sku: 'B-2' },
          id: 'order-42',
        }),
      ).toMatchObject({ duplicate: true });
      await waitFor(() => received.length >= 2, 30_000, 'the forwarded records');
      await sleep(1_000);
      expect(received).toHaveLength(2);
      expect(received[0]).toMatchObject({
        key: 'orders.eu',
        value: {
          channel: 'orders.eu',
          event: 'placed',
          data: { sku: 'A-1', qty: 2 },
          id: ack.id,
          offset: ack.offset,
          userId: null,
        },
        headers: { event: 'placed', id: ack.id },
      });
      expect(received[1]!.value).toMatchObject({ channel: 'orders.us', id: 'order-42' });
    } finally {
      await consumer.disconnect();
    }
  });
});
