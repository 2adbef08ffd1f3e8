import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveBrokerPlan } from '../src/broker-factory';
import { resolveQueueOptions } from '../src/operations/options';

// Where the job queues live when bullmq, an optional peer, is or is not installed (the resolver is given the answer).
const redisBroker = resolveBrokerPlan({ broker: { type: 'redis', url: 'redis://127.0.0.1:6379' } });
const memoryBroker = resolveBrokerPlan({});
const installed = () => true;
const missing = () => false;

describe('queue options and the optional bullmq', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('keeps the queues in the Redis broker’s Redis when bullmq is installed', () => {
    expect(resolveQueueOptions(undefined, redisBroker, installed).redis).toBe('redis://127.0.0.1:6379');
  });

  it('falls back to memory with one warning when the Redis only comes from the broker and bullmq is missing', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    expect(resolveQueueOptions(undefined, redisBroker, missing).redis).toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/npm install bullmq/);
    expect(warn.mock.calls[0]![1]).toEqual({ code: 'UNISOCKET_QUEUE_IN_MEMORY' });
    // queue: { redis: false } says memory on purpose: no warning
    warn.mockClear();
    expect(resolveQueueOptions({ redis: false }, redisBroker, missing).redis).toBeUndefined();
    expect(warn).not.toHaveBeenCalled();
  });

  it('refuses at startup with what to install when Redis queues are asked for explicitly and bullmq is missing', () => {
    expect(() => resolveQueueOptions({ redis: 'redis://127.0.0.1:6379' }, memoryBroker, missing)).toThrow(
      /queue\.redis .*BullMQ, which is not installed: npm install bullmq/,
    );
    expect(() => resolveQueueOptions({ durable: true }, redisBroker, missing)).toThrow(
      /queue\.durable .*npm install bullmq/,
    );
  });

  it('never looks for bullmq without a Redis', () => {
    const asked = vi.fn(missing);
    expect(resolveQueueOptions(undefined, memoryBroker, asked).redis).toBeUndefined();
    expect(asked).not.toHaveBeenCalled();
  });
});
