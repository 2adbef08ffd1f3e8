/**
 * @unisocket/queue — jobs for unisocket: queued, delayed, prioritized and recurring jobs with retries, backoff and a
 * dead-letter queue, on BullMQ (Redis, durable) or in memory, behind one {@link JobQueue} contract; and circuit
 * breakers (cockatiel) with a registry that reports their states.
 * @packageDocumentation
 */
export type * from './types';
export { MemoryJobQueue, type MemoryJobQueueOptions } from './memory-queue';
export { MAX_MEMORY_SCHEDULES } from './memory-schedules';
export { BullJobQueue, type BullJobQueueOptions, DEFAULT_BULL_PREFIX, MAX_LISTED_SCHEDULES } from './bull-queue';
export { MAX_WAKE_TIMERS } from './bull-promoter';
export { type BullConnection, type RedisClientLike, isBullInstalled } from './bull-connection';
export { createJobQueue, type CreateJobQueueOptions } from './factory';
export {
  Breaker,
  BreakerRegistry,
  type BreakerRegistryEvents,
  type BreakerRegistryOptions,
  type BreakerStateChange,
  DEFAULT_BREAKER_OPTIONS,
  resolveBreakerOptions,
} from './breaker';
export { backoffDelay, retryDelay, type RetryPolicy } from './backoff';
export {
  DEFAULT_JOB_QUEUE_OPTIONS,
  MAX_DEAD_LETTER_PAGE,
  MAX_PRIORITY,
  MIN_EVERY_MS,
  nextCronTick,
  type ResolvedBackoff,
  type ResolvedJobOptions,
  type ResolvedJobQueueOptions,
  type ResolvedSchedule,
  resolveBackoff,
  resolveJobOptions,
  resolvePage,
  resolveQueueOptions,
  resolveSchedule,
  validateJobId,
  validateJobName,
  validateQueueName,
  validateScheduleKey,
} from './options';
export { QueueEventEmitter, ERROR_REPORT_WINDOW_MS } from './events';
