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
const options = {
  maxBatchMessages: 3,
  maxBatchBytes: 1_000_000,
  maxQueued: 4,
  queueTimeoutMs: 50,
  resendDelayMs: 1,
  what: 'publish',
};

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
    const b = new ProduceBatcher(producer, { ...options, maxBatchMessages: 1, maxQueued: 2, queueTimeoutMs: 1_000 });
    const first = b.send({ topic: 't', partition: 0, key: 'k', value: 'a' });
    await tick();
    const waiting = [
      b.send({ topic: 't', partition: 0, key: 'k', value: 'b' }),
      b.send({ topic: 't', partition: 0, key: 'k', value: 'c' }),
    ];
    await expect(b.send({ topic: 't', partition: 0, key: 'k', value: 'd' })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    calls[0]!.reject(Object.assign(new Error('down'), { name: 'KafkaJSNumberOfRetriesExceeded' }));
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toHaveLength(2);
    expect(calls[1]!.topicMessages).toBe(calls[0]!.topicMessages); // the very same records: same sequence numbers
    expect(b.retrying).toBe(true);
    b.expire(Date.now() + 1_000);
    await expect(waiting[0]).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /was not sent/ });
    await expect(waiting[1]).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // the caller of the unconfirmed record stops waiting too, told it may still be written
    await expect(first).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /may still be written/ });
    expect(b.stats).toMatchObject({ refused: 3, unconfirmed: 1 });
    // ...and it is: the request is still re-sent unchanged until Kafka confirms it, then the next one goes
    calls[1]!.resolve([{ topicName: 't', partition: 0, baseOffset: '3' }]);
    await tick();
    expect(b.stats.records).toBe(1);
    expect(b.inFlightAge()).toBe(0);
    const next = b.send({ topic: 't', partition: 0, key: 'k', value: 'e' });
    await tick();
    expect(calls).toHaveLength(3);
    calls[2]!.resolve([{ topicName: 't', partition: 0, baseOffset: '4' }]);
    expect(await next).toEqual({ topic: 't', partition: 0, offset: 4 });
  });

  it('answers every caller by its deadline by itself, in flight or queued, while Kafka stays silent', async () => {
    const { producer, calls } = scriptedProducer();
    const b = new ProduceBatcher(producer, { ...options, maxBatchMessages: 1, queueTimeoutMs: 10_000 });
    const started = Date.now();
    const settled = (p: Promise<unknown>) =>
      p.then(
        () => ({ ms: Date.now() - started, outcome: 'ok' }),
        (e: { message: string }) => ({ ms: Date.now() - started, outcome: e.message }),
      );
    // a given deadline wins over queueTimeoutMs (the broker passes "accepted + pendingPublishTimeoutMs")
    const inFlight = settled(b.send({ topic: 't', partition: 0, key: 'k', value: 'a' }, started + 60));
    const queued = settled(b.send({ topic: 't', partition: 0, key: 'k', value: 'b' }, started + 80));
    await tick();
    expect(calls).toHaveLength(1); // never answered: no expire() call from outside either
    const [a, q] = await Promise.all([inFlight, queued]);
    expect(a.outcome).toMatch(/has not confirmed it within .* may still be written/);
    expect(q.outcome).toMatch(/it was not sent/);
    expect(a.ms).toBeGreaterThanOrEqual(55);
    expect(q.ms).toBeGreaterThanOrEqual(75);
    expect(Math.max(a.ms, q.ms)).toBeLessThan(1_000);
    await b.close(1);
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
    await expect(b.send({ topic: 't', partition: 0, key: 'k', value: 'b' })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    await closed;
    await expect(p).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /may still have been written/ });
    expect(calls).toHaveLength(1);
  });
});
