import type { BreakerRegistry } from './breaker';
import { BullJobQueue, type BullJobQueueOptions } from './bull-queue';
import type { BullConnection } from './bull-connection';
import { MemoryJobQueue } from './memory-queue';
import type { BreakerOptions, JobQueue, JobQueueOptions } from './types';

/** Options of {@link createJobQueue}. */
export interface CreateJobQueueOptions extends JobQueueOptions {
  /** Redis (`{ url }` or an ioredis client): a durable {@link BullJobQueue}. Without it: a {@link MemoryJobQueue}. */
  redis?: BullConnection | undefined;
  /** BullMQ's key prefix (BullMQ only). @default 'unisocket:bull' */
  prefix?: string;
  /** The bound on each Redis call (BullMQ only). @default 5_000 */
  timeoutMs?: number;
  /** The registry of the queue's breaker `queue:<name>` (BullMQ only). */
  breakers?: BreakerRegistry;
  /** Thresholds of the queue's breaker (BullMQ only). */
  breaker?: BreakerOptions;
}

/**
 * A job queue: a {@link BullJobQueue} (durable, on BullMQ) when `redis` is given, else a {@link MemoryJobQueue} (in
 * this process, lost on restart). Check `queue.durable` to tell them apart.
 * @throws {TypeError} for bad options, saying what to change (BullMQ-only options without `redis` included)
 */
export function createJobQueue(options: CreateJobQueueOptions): JobQueue {
  const { redis, prefix, timeoutMs, breakers, breaker, ...common } = options;
  if (redis !== undefined) {
    const bull: BullJobQueueOptions = {
      ...common,
      connection: redis,
      ...(prefix === undefined ? {} : { prefix }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(breakers === undefined ? {} : { breakers }),
      ...(breaker === undefined ? {} : { breaker }),
    };
    return new BullJobQueue(bull);
  }
  const bullOnly = Object.entries({ prefix, timeoutMs, breakers, breaker })
    .filter(([, value]) => value !== undefined)
    .map(([key]) => key);
  if (bullOnly.length > 0) {
    throw new TypeError(`${bullOnly.join(', ')} apply to a BullMQ queue only: give redis too, or remove them`);
  }
  return new MemoryJobQueue(common);
}
