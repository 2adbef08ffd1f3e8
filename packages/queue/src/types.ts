/**
 * The job queue's contract, shared by {@link MemoryJobQueue} (in this process, lost on restart) and
 * {@link BullJobQueue} (BullMQ on Redis: durable across restarts, one worker per job across all nodes).
 */

/** How a failed job waits before its next attempt. */
export interface BackoffOptions {
  /**
   * `exponential`: `delayMs`, then twice as long after each further failure (capped at `maxDelayMs`); `fixed`: always
   * `delayMs`.
   * @default 'exponential'
   */
  type?: 'exponential' | 'fixed';
  /** The first wait, in ms. */
  delayMs: number;
  /**
   * The longest wait, in ms (exponential only).
   * @default 3_600_000 (1 h)
   */
  maxDelayMs?: number;
}

/** Options of {@link JobQueue.add}. Every bad value is a `TypeError` at the call. */
export interface JobOptions {
  /** Run no earlier than this many ms from now. @default 0 */
  delayMs?: number;
  /** Tries in total, the first one included (1 = no retry). @default the queue's `defaultAttempts` */
  attempts?: number;
  /**
   * Retry until this many ms have passed since the job was added (or resubmitted from the dead-letter queue), however
   * many attempts that takes (instead of `attempts`): a retry is scheduled only when it would start within that time,
   * otherwise the job fails for good (dead-letter queue).
   */
  retryForMs?: number;
  /** The wait between attempts: a number is a fixed delay in ms. @default the queue's `defaultBackoff` */
  backoff?: BackoffOptions | number;
  /**
   * Lower runs first among waiting jobs: an integer from 1 (highest) to 2_097_151 (BullMQ's limit); jobs without a
   * priority run before every job with one, first in first out (BullMQ's rule, kept by the memory queue too).
   */
  priority?: number;
  /**
   * A job id of your own (not an integer, no `:`, at most 256 characters): adding a job whose id is still known
   * (waiting, delayed, active, failed, or among the completed jobs kept, see `keepCompleted`) adds nothing and answers
   * the existing job.
   */
  jobId?: string;
}

/** Where a job is. `failed` jobs are the dead-letter queue. */
export type JobState = 'waiting' | 'delayed' | 'prioritized' | 'active' | 'completed' | 'failed' | 'unknown';

/** A job as the queue reports it. */
export interface JobInfo<T = unknown> {
  readonly id: string;
  readonly name: string;
  readonly data: T;
  readonly state: JobState;
  /** Attempts made so far. */
  readonly attemptsMade: number;
  /** Attempts allowed in total (`Infinity` with `retryForMs`). */
  readonly attempts: number;
  /** When it was added (epoch ms). */
  readonly createdAt: number;
  /** When it will run, for a delayed job (epoch ms). */
  readonly runAt?: number;
  /** When it completed or finally failed (epoch ms). */
  readonly finishedAt?: number;
  /** The last error message, for a failed or retried job. */
  readonly failedReason?: string;
  readonly priority?: number;
  /** The recurring schedule that made it, if any. */
  readonly scheduleKey?: string;
}

/** What a handler gets. Throw (or reject) to fail the attempt; it is retried while attempts remain. */
export interface JobContext<T = unknown> {
  readonly id: string;
  readonly name: string;
  readonly data: T;
  /** Attempts made before this one (0 on the first). */
  readonly attemptsMade: number;
  /** The recurring schedule that made the job, if any. */
  readonly scheduleKey?: string;
  /** The tick of a recurring job (epoch ms). */
  readonly scheduledFor?: number;
}

export type JobHandler<T = unknown> = (job: JobContext<T>) => Promise<unknown> | unknown;

/** A recurring job: exactly one of `pattern` or `everyMs`. */
export interface ScheduleOptions {
  /** A cron pattern (5 or 6 fields, seconds first when 6; cron-parser syntax, as BullMQ). */
  pattern?: string;
  /** Every this many ms (at least 100). */
  everyMs?: number;
  /** The time zone of `pattern`. @default 'UTC' */
  tz?: string;
}

/** A recurring job as the queue reports it. */
export interface ScheduleInfo {
  readonly key: string;
  readonly name: string;
  readonly pattern?: string;
  readonly everyMs?: number;
  readonly tz?: string;
  /** The next tick (epoch ms), when known. */
  readonly next?: number;
}

/** Payloads of the queue's operational events (their names are the ones the event streamer's users know). */
export interface QueueEvents {
  /**
   * An attempt failed and another one is scheduled: `attempt` is the number of that next attempt (2 = the first retry),
   * `delayMs` the wait before it, `error` the failed attempt's message.
   */
  'retry-started': [
    event: { queue: string; id: string; name: string; attempt: number; delayMs: number; error: string },
  ];
  /** A job that had failed before succeeded: `attempts` made in total, the successful one included. */
  'retry-completed': [event: { queue: string; id: string; name: string; attempts: number }];
  /** A recurring job's tick started running (on exactly one node; once per tick, not per retry). */
  'schedule-executed': [event: { queue: string; key: string; name: string; id: string; scheduledFor: number }];
  /** A run (attempt) of a recurring job's tick finished, well (`ok`) or not (`error`). */
  'execution-completed': [
    event: { queue: string; key: string; name: string; id: string; durationMs: number; ok: boolean; error?: string },
  ];
  /** A job exhausted its attempts (or its `retryForMs`): it is in the dead-letter queue. */
  'entry-added': [event: { queue: string; id: string; name: string; attempts: number; error: string }];
  /** A dead-letter entry was sent back to run again. */
  'entry-resubmitted': [event: { queue: string; id: string; name: string }];
  /** A dead-letter entry is gone: removed, or its resubmitted job succeeded. */
  'entry-resolved': [event: { queue: string; id: string; name: string; how: 'removed' | 'completed' }];
  /** A job completed (every job, first try or not): `durationMs` of the successful run, `attempts` made in total. */
  completed: [event: { queue: string; id: string; name: string; durationMs: number; attempts: number }];
  /**
   * A failure the queue survived (its Redis away, a handler missing, a listener that threw). Emitted only when there is
   * a listener (never thrown); the same message is reported at most once every 10 s.
   */
  error: [error: Error];
}

/** Options common to both queues. */
export interface JobQueueOptions {
  /** The queue's name (BullMQ queue name; in events and errors). */
  name: string;
  /** @default 3 */
  defaultAttempts?: number;
  /** @default { type: 'exponential', delayMs: 1_000, maxDelayMs: 3_600_000 } */
  defaultBackoff?: BackoffOptions;
  /** Jobs a node runs at once. @default 8 */
  concurrency?: number;
  /**
   * Dead-letter entries kept; beyond it the oldest are dropped (BullMQ: `removeOnFail: { count }`).
   * @default 10_000
   */
  maxDeadLetters?: number;
  /**
   * Jobs waiting or delayed at most (memory queue only; BullMQ is bounded by Redis): `add` beyond it is refused.
   * @default 100_000
   */
  maxJobs?: number;
  /**
   * Completed jobs kept for {@link JobQueue.job}, counts and `jobId` deduplication; beyond it the oldest are dropped
   * (BullMQ: `removeOnComplete: { count }`).
   * @default 1_000
   */
  keepCompleted?: number;
}

/**
 * A job queue. Errors: `TypeError` for bad arguments (a malformed cron pattern included); a `UnisocketError` (from
 * `@unisocket/core`) with code `UNAVAILABLE` when the backend cannot take the call (Redis away, breaker open, queue
 * closed), `NOT_FOUND` for a job or dead-letter id that is not there.
 */
export interface JobQueue {
  readonly name: string;
  /** `'memory'` or `'bullmq'`. */
  readonly kind: 'memory' | 'bullmq';
  /** `true` when jobs survive a restart of this process (BullMQ). */
  readonly durable: boolean;
  /**
   * Runs jobs named `name` with `handler` on this node. Register handlers before {@link start}; with BullMQ, every
   * node that starts a worker must have a handler for every job name (a job without one fails its attempt).
   */
  handle<T>(name: string, handler: JobHandler<T>): void;
  /** Starts working (and scheduling). Rejects when the backend is unreachable at start. */
  start(): Promise<void>;
  /** Adds a job. Resolves once the backend has it. */
  add<T>(name: string, data: T, options?: JobOptions): Promise<JobInfo<T>>;
  /**
   * Creates or replaces the recurring job `key`: one job named `name` with `data` per tick, on one node only. An
   * `everyMs` schedule runs its first tick at once, then every `everyMs` after the previous tick; a `pattern` runs at
   * the pattern's times. `options` may set `attempts`, `retryForMs`, `backoff` and `priority` (not `delayMs`, `jobId`).
   * Replacing a schedule with the same `everyMs` keeps its next tick.
   */
  schedule(
    key: string,
    schedule: ScheduleOptions,
    name: string,
    data?: unknown,
    options?: JobOptions,
  ): Promise<ScheduleInfo>;
  /** Removes a recurring job. @returns `false` when there was none */
  unschedule(key: string): Promise<boolean>;
  /** The recurring jobs. */
  schedules(): Promise<ScheduleInfo[]>;
  /** A job by id, or `undefined`. */
  job(id: string): Promise<JobInfo | undefined>;
  /** The dead-letter queue, newest first. */
  deadLetters(options?: { offset?: number; limit?: number }): Promise<{ total: number; entries: JobInfo[] }>;
  /** Sends a dead-letter entry back to run again (attempts start over). @throws {UnisocketError} `NOT_FOUND` */
  retryDeadLetter(id: string): Promise<JobInfo>;
  /** Removes a dead-letter entry. @throws {UnisocketError} `NOT_FOUND` */
  removeDeadLetter(id: string): Promise<void>;
  /** Jobs per state. */
  counts(): Promise<Record<'waiting' | 'delayed' | 'active' | 'completed' | 'failed', number>>;
  /**
   * Stops working and scheduling on this node; lets active jobs finish (up to `timeoutMs`, default 5 s). Idempotent;
   * later calls of the other methods reject with `UNAVAILABLE` ("queue closed").
   */
  close(timeoutMs?: number): Promise<void>;
  on<E extends keyof QueueEvents>(event: E, listener: (...args: QueueEvents[E]) => void): this;
  off<E extends keyof QueueEvents>(event: E, listener: (...args: QueueEvents[E]) => void): this;
}

/** A circuit breaker's state. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** A breaker as reported by {@link BreakerRegistry.list} (health, stats, metrics). */
export interface BreakerSnapshot {
  readonly name: string;
  readonly state: BreakerState;
  /** Since when (epoch ms). */
  readonly since: number;
  /** Calls that failed / succeeded / were refused while open, since creation. */
  readonly failures: number;
  readonly successes: number;
  readonly rejected: number;
  /** Its thresholds. */
  readonly failureThreshold?: number;
  readonly halfOpenAfterMs?: number;
  /** When open: when its next call will be let through as the trial (epoch ms). */
  readonly nextTrialAt?: number;
}

/** Thresholds of a breaker. */
export interface BreakerOptions {
  /** Consecutive failures that open it. @default 5 */
  failureThreshold?: number;
  /** How long it stays open before one trial call (half-open), in ms. @default 10_000 */
  halfOpenAfterMs?: number;
}
