import type { Producer, TopicMessages } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ProduceBatcher } from '../src/producer';

/** A producer whose answers the test scripts: each sendBatch waits for the test to settle it. */
function scriptedProducer() {
  const calls: { topicMessages: TopicMessages[]; resolve: (m: unknown) => void; reject: (e: unknown) => void }[] = [];
  const producer = {
    sendBatch: ({ topicMessages }: { topicMessages: TopicMessages[] }) =>
      new Promise((resolve, reject) => calls.push({ topicMessages, resolve, reject })),
  } as unknown as Producer;
  return { producer, calls };
}
const tick = () => new Promise((r) => setImmediate(r));
const options = { maxBatchMessages: 3, maxBatchBytes: 1_000_000, maxQueued: 4, queueTimeoutMs: 50, resendDelayMs: 1, what: 'publish' };

describe('ProduceBatcher', () => {
  it('sends what one tick queued as one request, one at a time, and reports each record its offset', async () => {
    const { producer, calls } = scriptedProducer();
    const b = new ProduceBatcher(producer, options);
    const results = [0, 1, 0, 2].map((partition, i) => b.send({ topic: 't', partition, key: 'k', value: `v${i}` }));
    await tick();
    expect(calls).toHaveLength(1); // three records (maxBatchMessages), the fourth waits
    expect(calls[0]!.topicMessages[0]!.messages.map((m) => m.value)).toEqual(['v0', 'v1', 'v2']);
    calls[0]!.resolve([
      { topicName: 't', partition: 0, baseOffset: '10' },
      { topicName: 't', partition: 1, baseOffset: '7' },
    ]);
    await tick();
    await tick();
    expect(calls).toHaveLength(2);
    calls[1]!.resolve([{ topicName: 't', partition: 2, baseOffset: '0' }]);
    expect(await Promise.all(results)).toEqual([
      { topic: 't', partition: 0, offset: 10 },
      { topic: 't', partition: 1, offset: 7 },
      { topic: 't', partition: 0, offset: 11 },
      { topic: 't', partition: 2, offset: 0 },
    ]);
  });

  it('sends an unconfirmed request again unchanged, bounds and expires what waits behind it', async () => {
    const { producer, calls } = scriptedProducer();
    const b = new ProduceBatcher(producer, { ...options, maxBatchMessages: 1, maxQueued: 2 });
    const first = b.send({ topic: 't', partition: 0, key: 'k', value: 'a' });
    await tick();
    const waiting = [b.send({ topic: 't', partition: 0, key: 'k', value: 'b' }), b.send({ topic: 't', partition: 0, key: 'k', value: 'c' })];
    await expect(b.send({ topic: 't', partition: 0, key: 'k', value: 'd' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    calls[0]!.reject(Object.assign(new Error('down'), { name: 'KafkaJSNumberOfRetriesExceeded' }));
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toHaveLength(2);
    expect(calls[1]!.topicMessages).toBe(calls[0]!.topicMessages); // the very same records: same sequence numbers
    expect(b.retrying).toBe(true);
    await new Promise((r) => setTimeout(r, 60));
    b.expire();
    await expect(waiting[0]).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /was not sent/ });
    await expect(waiting[1]).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    calls[1]!.resolve([{ topicName: 't', partition: 0, baseOffset: '3' }]);
    expect(await first).toEqual({ topic: 't', partition: 0, offset: 3 });
  });

  it('refuses a request Kafka rejected for good, and reports it', async () => {
    const { producer, calls } = scriptedProducer();
    const errors: Error[] = [];
    const b = new ProduceBatcher(producer, { ...options, onError: (e) => errors.push(e) });
    const p = b.send({ topic: 't', partition: 0, key: 'k', value: 'a' });
    await tick();
    calls[0]!.reject(Object.assign(new Error('Message too large'), { name: 'KafkaJSProtocolError', retriable: false }));
    await expect(p).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /Message too large/ });
    expect(errors).toHaveLength(1);
  });

  it('on close, waits for what is in flight, then refuses the rest', async () => {
    const { producer, calls } = scriptedProducer();
    const b = new ProduceBatcher(producer, options);
    const p = b.send({ topic: 't', partition: 0, key: 'k', value: 'a' });
    await tick();
    const closed = b.close(30);
    await expect(b.send({ topic: 't', partition: 0, key: 'k', value: 'b' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await closed;
    await expect(p).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /may still have been written/ });
    expect(calls).toHaveLength(1);
  });
});
