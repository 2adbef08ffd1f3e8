import { Hub } from '@unisocket/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runActivationRace } from '../../core/test/activation-race';
import { RedisBroker } from '../src/index';
import { REDIS_URL, deleteTestKeys, redisAvailable, uniquePrefix } from './redis';

const hubs: Hub[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) {
    hub.close();
    await hub.broker.close();
  }
});
afterAll(() => deleteTestKeys());

async function node(keyPrefix: string, nodeId: string): Promise<Hub> {
  const broker = new RedisBroker({ url: REDIS_URL, keyPrefix, nodeId, history: { size: 10_000 } });
  broker.on('error', () => {});
  const hub = new Hub({ broker, nodeId, limits: { messagesPerSecond: 1_000_000 } });
  hub.on('error', () => {});
  hubs.push(hub);
  await hub.start();
  return hub;
}

// Subscribers that join while a channel activates on a node used to miss the messages the broker held meanwhile
// (the Hub dropped them before it marked the channel active): 10–45 of 200 subscriptions per run.
describe.runIf(redisAvailable)('Redis broker: subscribe while the channel activates', () => {
  for (const publisherOnSameNode of [true, false]) {
    it(`every subscriber gets every message after its ack (publishers on ${publisherOnSameNode ? 'the same' : 'another'} node)`, async () => {
      const prefix = uniquePrefix('activation');
      const x = await node(prefix, 'x');
      const y = publisherOnSameNode ? x : await node(prefix, 'y');
      const result = await runActivationRace({ subscriberHub: x, publisherHub: y, rounds: 40, prefix: 'race' });
      expect(result.failures).toEqual([]);
      expect(result.subscriptions).toBe(40 * 5);
    }, 120_000);
  }
});
