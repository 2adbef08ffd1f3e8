import { EventEmitter } from 'node:events';
import { type ClientPublish, type Hub, messageHead } from '@unisocket/core';
import type { Admin, Kafka, Producer, ProducerConfig, ProducerBatch } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { resolveBridgeConfig } from '../src/bridge-config';
import { BridgeForwarder } from '../src/bridge-forward';
import { KafkaHistory } from '../src/history';
import { ProduceBatcher } from '../src/producer';
import { KafkaPublisher } from '../src/publisher';
import { createTopicsAndWait } from '../src/topics';

// What a replicated Kafka relies on, without a Kafka: every publish path asks for acks -1 from an idempotent
// producer; a refusal says what Kafka answered; topic creation waits out brokers that do not know a new topic yet.

/** A kafkajs client whose producers record their config and every sendBatch, and confirm each at once. */
function recordingKafka() {
  const configs: ProducerConfig[] = [];
  const batches: ProducerBatch[] = [];
  let offset = 0;
  const kafka = {
    producer: (config: ProducerConfig) => {
      configs.push(config);
      return {
        connect: async () => {},
        disconnect: async () => {},
        sendBatch: async (batch: ProducerBatch) => {
          batches.push(batch);
          return (batch.topicMessages ?? []).map((t) => ({
            topicName: t.topic,
            partition: t.messages[0]?.partition ?? 0,
            errorCode: 0,
            baseOffset: String((offset += t.messages.length) - t.messages.length),
          }));
        },
      } as unknown as Producer;
    },
  } as unknown as Kafka;
  return { kafka, configs, batches };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('every publish path asks Kafka for acks -1 from an idempotent producer', () => {
  it('the broker publisher (sequenced and volatile lines)', async () => {
    const { kafka, configs, batches } = recordingKafka();
    const history = new KafkaHistory({});
    history.setPartitionCount(3);
    for (let p = 0; p < 3; p++) history.reset(p, `t:${p}:m`, 0);
    const settings = {
      maxBatchMessages: 10,
      maxBatchBytes: 100_000,
      idempotencyCacheSize: 10,
      idempotencyWindowMs: 1_000,
    };
    const publisher = new KafkaPublisher(
      kafka,
      't',
      history,
      settings,
      { maxPendingPublishes: 10, pendingPublishTimeoutMs: 1_000 },
      () => {},
    );
    const ts = Date.now();
    await publisher.publish({
      channel: 'c',
      id: 'i1',
      head: messageHead('c', 'e', '1', 'i1', ts),
      ts,
      idempotent: false,
    });
    publisher.publishVolatile('c', '{"presence":1}');
    await tick();
    await tick();
    expect(configs).toEqual([expect.objectContaining({ idempotent: true, maxInFlightRequests: 1 })]);
    expect(batches.length).toBeGreaterThanOrEqual(1);
    for (const batch of batches) expect(batch.acks).toBe(-1);
    await publisher.close(10);
  });

  it('the bridge forwarding client publishes to topics', async () => {
    const { kafka, configs, batches } = recordingKafka();
    const config = resolveBridgeConfig({ forward: [{ channels: 'orders.*', topic: 'orders' }] });
    const errors: Error[] = [];
    const forwarder = new BridgeForwarder(kafka, config, { forwarded: 0, forwardFailed: 0 } as never, (e) =>
      errors.push(e),
    );
    const hub = new EventEmitter() as unknown as Hub;
    await forwarder.start(hub);
    const publish = {
      conn: { id: 'c1', userId: null },
      channel: 'orders.eu',
      event: 'placed',
      data: { n: 1 },
      id: 'm1',
      epoch: 'e',
      offset: 1,
    } as unknown as ClientPublish;
    (hub as unknown as EventEmitter).emit('clientPublish', publish);
    await tick();
    await tick();
    expect(errors).toEqual([]);
    expect(configs).toEqual([expect.objectContaining({ idempotent: true, maxInFlightRequests: 1 })]);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.acks).toBe(-1);
    forwarder.detach();
    await forwarder.close(10);
  });

  it('a re-sent request too', async () => {
    const acks: unknown[] = [];
    let attempts = 0;
    const producer = {
      sendBatch: async (batch: ProducerBatch) => {
        acks.push(batch.acks);
        if (++attempts === 1)
          throw Object.assign(new Error('leader moved'), { name: 'KafkaJSNumberOfRetriesExceeded' });
        return [{ topicName: 't', partition: 0, errorCode: 0, baseOffset: '0' }];
      },
    } as unknown as Producer;
    const b = new ProduceBatcher(producer, {
      maxBatchMessages: 10,
      maxBatchBytes: 100_000,
      maxQueued: 10,
      queueTimeoutMs: 5_000,
      resendDelayMs: 1,
      what: 'publish',
    });
    expect(await b.send({ topic: 't', partition: 0, key: 'k', value: 'v' })).toMatchObject({ offset: 0 });
    expect(acks).toEqual([-1, -1]);
  });
});

describe('a publish Kafka keeps refusing (fewer in-sync replicas than min.insync.replicas)', () => {
  it("is answered UNAVAILABLE with Kafka's last answer, not as if Kafka were silent", async () => {
    const refusal = Object.assign(
      new Error('Messages are rejected since there are fewer in-sync replicas than required'),
      {
        name: 'KafkaJSProtocolError',
        type: 'NOT_ENOUGH_REPLICAS',
        retriable: true,
      },
    );
    const producer = {
      sendBatch: async () => {
        throw refusal;
      },
    } as unknown as Producer;
    const b = new ProduceBatcher(producer, {
      maxBatchMessages: 1,
      maxBatchBytes: 100_000,
      maxQueued: 10,
      queueTimeoutMs: 60,
      resendDelayMs: 5,
      what: 'publish',
    });
    const sent = b.send({ topic: 't', partition: 0, key: 'k', value: 'a' });
    const queued = b.send({ topic: 't', partition: 0, key: 'k', value: 'b' });
    await expect(sent).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/last attempt: Messages are rejected since there are fewer in-sync replicas/),
    });
    await expect(queued).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/not sent/),
    });
    expect(b.stats.records).toBe(0);
    await b.close(1);
  });
});

describe('createTopicsAndWait', () => {
  /** An admin whose brokers learn of a created topic late: first unknown, then leaderless, then led. */
  function lateAdmin() {
    const calls: string[] = [];
    let metadataCalls = 0;
    const admin = {
      createTopics: async ({ waitForLeaders }: { waitForLeaders?: boolean }) => {
        calls.push(`create waitForLeaders=${String(waitForLeaders)}`);
        return true;
      },
      fetchTopicMetadata: async ({ topics }: { topics: string[] }) => {
        metadataCalls++;
        calls.push('metadata');
        if (metadataCalls === 1)
          throw Object.assign(new Error('This server does not host this topic-partition'), {
            type: 'UNKNOWN_TOPIC_OR_PARTITION',
            retriable: true,
          });
        const leader = metadataCalls === 2 ? -1 : 1;
        return {
          topics: topics.map((name) => ({
            name,
            partitions: [0, 1].map((partitionId) => ({ partitionId, leader, replicas: [1, 2, 3], isr: [1, 2, 3] })),
          })),
        };
      },
    } as unknown as Admin;
    return { admin, calls };
  }

  it('waits until a broker that did not know the new topic shows a leader for every partition', async () => {
    const { admin, calls } = lateAdmin();
    await createTopicsAndWait(admin, [{ topic: 'x', numPartitions: 2, replicationFactor: 3 }], Date.now() + 5_000);
    expect(calls).toEqual(['create waitForLeaders=false', 'metadata', 'metadata', 'metadata']);
  });

  it('rejects at its deadline, saying which topic has no leader yet', async () => {
    const admin = {
      createTopics: async () => true,
      fetchTopicMetadata: async () => ({ topics: [{ name: 'x', partitions: [{ partitionId: 0, leader: -1 }] }] }),
    } as unknown as Admin;
    await expect(createTopicsAndWait(admin, [{ topic: 'x', numPartitions: 1 }], Date.now() + 200)).rejects.toThrow(
      /topics x were created but not every partition has a leader yet/,
    );
  });
});
