import { Hub } from '@unisocket/core';
import { kafkaBrokers, requireService } from '@unisocket/services';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runActivationRace } from '../../core/test/activation-race';
import { KafkaBroker } from '../src/index';
import { deleteTestTopics, testTopic } from './helpers';

const BROKERS = kafkaBrokers();
const kafkaUp = await requireService('kafka');

const hubs: Hub[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) {
    hub.close();
    await hub.broker.close();
  }
});
afterAll(deleteTestTopics);

async function node(topic: string, nodeId: string): Promise<Hub> {
  const broker = new KafkaBroker({ brokers: BROKERS, topic, nodeId, partitions: 3 });
  broker.on('error', () => {});
  const hub = new Hub({ broker, nodeId, limits: { messagesPerSecond: 1_000_000 } });
  hub.on('error', () => {});
  hubs.push(hub);
  await hub.start();
  return hub;
}

// The same race as on Redis (a subscriber joining while its channel activates): the rule lives in the shared
// Broker/Hub code, so it holds for Kafka's partition offsets too.
describe.skipIf(!kafkaUp)('Kafka broker: subscribe while the channel activates', () => {
  for (const publisherOnSameNode of [true, false]) {
    it(`every subscriber gets every message after its ack (publishers on ${publisherOnSameNode ? 'the same' : 'another'} node)`, async () => {
      const topic = testTopic('activation', BROKERS);
      const x = await node(topic, 'x');
      const y = publisherOnSameNode ? x : await node(topic, 'y');
      const result = await runActivationRace({
        subscriberHub: x,
        publisherHub: y,
        rounds: 20,
        prefix: 'race',
        settleMs: 500,
      });
      expect(result.failures).toEqual([]);
      expect(result.subscriptions).toBe(20 * 5);
    }, 180_000);
  }
});
