import type { Job, JobsOptions } from 'bullmq';
import type { RetryPolicy } from './backoff';
import { type ResolvedJobOptions, type ResolvedJobQueueOptions, UNLIMITED_ATTEMPTS } from './options';
import type { JobInfo, JobState } from './types';

/**
 * What a BullJobQueue stores as a BullMQ job's data: the caller's data plus, once the job was sent back from the
 * dead-letter queue, when (so its success resolves the entry, and `retryForMs` starts over). @internal
 */
export interface JobEnvelope {
  readonly v: 1;
  readonly data?: unknown;
  readonly resubmittedAt?: number;
}

/**
 * The backoff a BullJobQueue stores in a job's options: a custom BullMQ type (`unisocket`), so BullMQ asks the worker's
 * `settings.backoffStrategy`, which computes the delay with the memory queue's own function. @internal
 */
export interface EncodedBackoff {
  readonly type: 'unisocket';
  /** The first delay (BullMQ reads it too). */
  readonly delay: number;
  readonly kind: 'exponential' | 'fixed';
  readonly maxDelay: number;
  readonly retryForMs?: number;
}

/** The backoff type a BullJobQueue gives its jobs. @internal */
export const BACKOFF_TYPE = 'unisocket';

/** Wraps a caller's data. @internal */
export function wrapData(data: unknown, resubmittedAt?: number): JobEnvelope {
  return resubmittedAt === undefined ? { v: 1, data } : { v: 1, data, resubmittedAt };
}

/** The caller's data and the resubmission time of a stored job's data (data of foreign producers as it is). @internal */
export function unwrapData(raw: unknown): { data: unknown; resubmittedAt: number | undefined } {
  if (typeof raw === 'object' && raw !== null && (raw as { v?: unknown }).v === 1) {
    const envelope = raw as JobEnvelope;
    return { data: envelope.data, resubmittedAt: envelope.resubmittedAt };
  }
  return { data: raw, resubmittedAt: undefined };
}

/** BullMQ options of a job added (or of a schedule's template, without `delay` and `jobId`). @internal */
export function bullJobOptions(options: ResolvedJobOptions, queue: ResolvedJobQueueOptions): JobsOptions {
  const backoff: EncodedBackoff = {
    type: BACKOFF_TYPE,
    delay: options.backoff.delayMs,
    kind: options.backoff.type,
    maxDelay: options.backoff.maxDelayMs,
    ...(options.retryForMs === undefined ? {} : { retryForMs: options.retryForMs }),
  };
  return {
    attempts: options.retryForMs === undefined ? options.attempts : UNLIMITED_ATTEMPTS,
    backoff: backoff as unknown as JobsOptions['backoff'] & object,
    removeOnComplete: queue.keepCompleted === 0 ? true : { count: queue.keepCompleted },
    removeOnFail: { count: queue.maxDeadLetters },
    ...(options.priority === undefined ? {} : { priority: options.priority }),
    ...(options.delayMs > 0 ? { delay: options.delayMs } : {}),
    ...(options.jobId === undefined ? {} : { jobId: options.jobId }),
  };
}

/** The retry policy of a stored job, or `undefined` for a job whose backoff is not a BullJobQueue's. @internal */
export function retryPolicyOf(job: Pick<Job, 'opts' | 'data' | 'timestamp'>): RetryPolicy | undefined {
  const backoff = job.opts.backoff as Partial<EncodedBackoff> | undefined;
  if (backoff?.type !== BACKOFF_TYPE || typeof backoff.delay !== 'number') return undefined;
  return {
    attempts: backoff.retryForMs === undefined ? (job.opts.attempts ?? 1) : Number.POSITIVE_INFINITY,
    backoff: {
      type: backoff.kind === 'fixed' ? 'fixed' : 'exponential',
      delayMs: backoff.delay,
      maxDelayMs: backoff.maxDelay ?? backoff.delay,
    },
    retryForMs: backoff.retryForMs,
    since: unwrapData(job.data).resubmittedAt ?? job.timestamp,
  };
}

/** The tick of a job made by a job scheduler (its id is `repeat:<key>:<tick>`), else `undefined`. @internal */
export function tickOf(job: Pick<Job, 'id' | 'repeatJobKey' | 'timestamp' | 'delay'>): number | undefined {
  if (job.repeatJobKey === undefined) return undefined;
  const tick = Number(job.id?.slice(job.id.lastIndexOf(':') + 1));
  return Number.isSafeInteger(tick) ? tick : job.timestamp + (job.delay ?? 0);
}

/** A BullMQ state in this package's terms. @internal */
export function toJobState(state: string): JobState {
  switch (state) {
    case 'waiting':
    case 'wait':
    case 'paused':
    case 'waiting-children':
      return 'waiting';
    case 'delayed':
    case 'prioritized':
    case 'active':
    case 'completed':
    case 'failed':
      return state;
    default:
      return 'unknown';
  }
}

/** A BullMQ job as {@link JobInfo}. @internal */
export function toJobInfo(job: Job, state: JobState, runAt?: number): JobInfo {
  const backoff = job.opts.backoff as Partial<EncodedBackoff> | undefined;
  const attempts =
    backoff?.type === BACKOFF_TYPE && backoff.retryForMs !== undefined
      ? Number.POSITIVE_INFINITY
      : Math.max(1, job.opts.attempts ?? 1);
  return {
    id: String(job.id),
    name: job.name,
    data: unwrapData(job.data).data,
    state,
    attemptsMade: job.attemptsMade,
    attempts,
    createdAt: job.timestamp,
    ...(runAt === undefined ? {} : { runAt }),
    ...(job.finishedOn ? { finishedAt: job.finishedOn } : {}),
    ...(job.failedReason ? { failedReason: job.failedReason } : {}),
    ...(job.priority ? { priority: job.priority } : {}),
    ...(job.repeatJobKey === undefined ? {} : { scheduleKey: job.repeatJobKey }),
  };
}
