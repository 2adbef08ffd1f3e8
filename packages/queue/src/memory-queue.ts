import { PriorityQueue } from '@unisocket/memory';
import { retryDelay } from './backoff';
import { QueueEventEmitter } from './events';
import { MAX_TIMER_MS, type MemorySchedule, MemorySchedules } from './memory-schedules';
import {
  type ResolvedJobOptions,
  type ResolvedJobQueueOptions,
  resolveJobOptions,
  resolvePage,
  resolveQueueOptions,
  resolveSchedule,
  validateJobName,
  validateScheduleKey,
} from './options';
import type {
  JobHandler,
  JobInfo,
  JobOptions,
  JobQueue,
  JobQueueOptions,
  JobState,
  ScheduleInfo,
  ScheduleOptions,
} from './types';
import { asError, messageOf, notFound, unavailable } from './util';

/** Options of {@link MemoryJobQueue}: those of every queue ({@link JobQueueOptions}). */
export type MemoryJobQueueOptions = JobQueueOptions;

interface MemoryJob {
  readonly id: string;
  readonly name: string;
  readonly data: unknown;
  readonly createdAt: number;
  readonly options: ResolvedJobOptions;
  readonly scheduleKey: string | undefined;
  readonly scheduledFor: number | undefined;
  state: JobState;
  attemptsMade: number;
  /** The sequence number of its current place among the waiting jobs (FIFO within a priority). */
  seq: number;
  runAt: number | undefined;
  finishedAt: number | undefined;
  failedReason: string | undefined;
  resubmittedAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
  /** `schedule-executed` was emitted for its tick. */
  announced: boolean;
}

interface Waiting {
  readonly job: MemoryJob;
  readonly seq: number;
}

/** BullMQ's order: no priority (0) first, then lower numbers; first in first out within a priority. */
function compareWaiting(a: Waiting, b: Waiting): number {
  return (a.job.options.priority ?? 0) - (b.job.options.priority ?? 0) || a.seq - b.seq;
}

/**
 * A {@link JobQueue} in this process: delays on (unref'd) timers, attempts and backoff, BullMQ's priority order,
 * `jobId` deduplication, `concurrency`, recurring jobs (cron-parser patterns or intervals), a bounded dead-letter queue
 * and every {@link QueueEvents} event. Nothing survives a restart (`durable: false`): use {@link BullJobQueue} for
 * that. Bounded: `maxJobs` waiting or delayed jobs, `maxDeadLetters`, `keepCompleted`.
 */
export class MemoryJobQueue extends QueueEventEmitter implements JobQueue {
  /** The queue's name. */
  readonly name: string;
  /** Always `'memory'`. */
  readonly kind = 'memory' as const;
  /** Always `false`: jobs, delays, schedules and dead letters are lost with the process. */
  readonly durable = false;
  readonly #options: ResolvedJobQueueOptions;
  readonly #handlers = new Map<string, JobHandler<unknown>>();
  /** Every job still known: waiting, delayed, active, failed (dead letters) and the completed ones kept. */
  readonly #jobs = new Map<string, MemoryJob>();
  readonly #waiting = new PriorityQueue<Waiting>({ compare: compareWaiting });
  /** Oldest first (insertion order): the newest are at the end. */
  readonly #deadLetters = new Map<string, MemoryJob>();
  readonly #completed = new Map<string, MemoryJob>();
  readonly #schedules: MemorySchedules;
  readonly #activeJobs = new Set<Promise<void>>();
  #delayed = 0;
  #nextId = 0;
  #seq = 0;
  #started = false;
  #pumpScheduled = false;
  #closing: Promise<void> | undefined;

  /** @throws {TypeError} for bad options, saying what to change */
  constructor(options: MemoryJobQueueOptions) {
    super();
    this.#options = resolveQueueOptions(options);
    this.name = this.#options.name;
    this.#schedules = new MemorySchedules(this.name, (entry, tick) => this.#tick(entry, tick));
  }

  /** Registers the handler of jobs named `name` (replacing any previous one). */
  handle<T>(name: string, handler: JobHandler<T>): void {
    this.#assertOpen();
    validateJobName(name);
    if (typeof handler !== 'function') throw new TypeError(`the handler of "${name}" must be a function`);
    this.#handlers.set(name, handler as JobHandler<unknown>);
  }

  /** Starts running jobs (those added before included). Idempotent. */
  async start(): Promise<void> {
    this.#assertOpen();
    this.#started = true;
    this.#schedulePump();
  }

  /**
   * Adds a job.
   * @throws {TypeError} for a bad name or options
   * @throws {UnisocketError} `UNAVAILABLE` when `maxJobs` jobs wait already, or the queue is closed
   */
  async add<T>(name: string, data: T, options?: JobOptions): Promise<JobInfo<T>> {
    this.#assertOpen();
    validateJobName(name);
    const resolved = resolveJobOptions(options, this.#options);
    if (resolved.jobId !== undefined) {
      const existing = this.#jobs.get(resolved.jobId);
      if (existing !== undefined) return this.#info(existing) as JobInfo<T>;
    }
    this.#assertRoom();
    const job = this.#create(resolved.jobId ?? String(++this.#nextId), name, data, resolved);
    this.#enqueue(job, resolved.delayMs);
    return this.#info(job) as JobInfo<T>;
  }

  /**
   * Creates or replaces the recurring job `key` (see {@link JobQueue.schedule}).
   * @throws {TypeError} for a bad key, schedule (a malformed cron pattern: naming it and cron-parser's reason), name
   * or options
   * @throws {UnisocketError} `UNAVAILABLE` when the queue is closed or holds 10 000 schedules
   */
  async schedule(
    key: string,
    schedule: ScheduleOptions,
    name: string,
    data?: unknown,
    options?: JobOptions,
  ): Promise<ScheduleInfo> {
    this.#assertOpen();
    validateScheduleKey(key);
    const spec = resolveSchedule(schedule);
    validateJobName(name);
    const resolved = resolveJobOptions(options, this.#options, true);
    return this.#schedules.set({ key, name, data, options: resolved, spec });
  }

  /** Removes a recurring job (jobs of past ticks still run). @returns `false` when there was none */
  async unschedule(key: string): Promise<boolean> {
    this.#assertOpen();
    return this.#schedules.delete(key);
  }

  /** The recurring jobs, by key. */
  async schedules(): Promise<ScheduleInfo[]> {
    this.#assertOpen();
    return this.#schedules.list();
  }

  /** A job by id (completed ones only while kept), or `undefined`. */
  async job(id: string): Promise<JobInfo | undefined> {
    this.#assertOpen();
    const job = this.#jobs.get(id);
    return job === undefined ? undefined : this.#info(job);
  }

  /** The dead-letter queue, newest first (`limit` defaults to 100, at most 1 000). */
  async deadLetters(options: { offset?: number; limit?: number } = {}): Promise<{ total: number; entries: JobInfo[] }> {
    this.#assertOpen();
    const { offset, limit } = resolvePage(options);
    const newestFirst = [...this.#deadLetters.values()].reverse();
    return {
      total: newestFirst.length,
      entries: newestFirst.slice(offset, offset + limit).map((job) => this.#info(job)),
    };
  }

  /**
   * Sends a dead-letter entry back to run again, its attempts (and `retryForMs` time) starting over.
   * @throws {UnisocketError} `NOT_FOUND` when `id` is not in the dead-letter queue; `UNAVAILABLE` when `maxJobs` jobs
   * wait already, or the queue is closed
   */
  async retryDeadLetter(id: string): Promise<JobInfo> {
    this.#assertOpen();
    const job = this.#deadLetter(id);
    this.#assertRoom();
    this.#deadLetters.delete(id);
    job.attemptsMade = 0;
    job.resubmittedAt = Date.now();
    job.finishedAt = undefined;
    this.#enqueue(job, 0);
    this.emitEvent('entry-resubmitted', { queue: this.name, id, name: job.name });
    return this.#info(job);
  }

  /**
   * Removes a dead-letter entry.
   * @throws {UnisocketError} `NOT_FOUND` when `id` is not in the dead-letter queue; `UNAVAILABLE` when closed
   */
  async removeDeadLetter(id: string): Promise<void> {
    this.#assertOpen();
    const job = this.#deadLetter(id);
    this.#deadLetters.delete(id);
    this.#jobs.delete(id);
    this.emitEvent('entry-resolved', { queue: this.name, id, name: job.name, how: 'removed' });
  }

  /** Jobs per state (`waiting` includes the prioritized ones; `completed` counts those kept). */
  async counts(): Promise<Record<'waiting' | 'delayed' | 'active' | 'completed' | 'failed', number>> {
    this.#assertOpen();
    return {
      waiting: this.#waiting.size,
      delayed: this.#delayed,
      active: this.#activeJobs.size,
      completed: this.#completed.size,
      failed: this.#deadLetters.size,
    };
  }

  /**
   * Stops running and scheduling: clears every timer (delayed jobs and schedules are dropped: nothing is durable
   * here) and waits for the active jobs, up to `timeoutMs`. Idempotent.
   */
  close(timeoutMs = 5_000): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closing = this.#close(timeoutMs);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#schedules.stop();
    for (const job of this.#jobs.values()) clearTimeout(job.timer);
    this.#waiting.clear();
    if (this.#activeJobs.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, timeoutMs));
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.#activeJobs]), timeout]);
    clearTimeout(timer);
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) {
      throw unavailable(`queue ${this.name} is closed: create a new queue to add or run jobs`);
    }
  }

  #assertRoom(): void {
    if (this.#waiting.size + this.#delayed >= this.#options.maxJobs) {
      throw unavailable(
        `queue ${this.name} holds ${this.#options.maxJobs} waiting or delayed jobs (maxJobs): ` +
          'retry later, or raise maxJobs',
      );
    }
  }

  #deadLetter(id: string): MemoryJob {
    const job = this.#deadLetters.get(id);
    if (job === undefined) {
      throw notFound(
        `queue ${this.name} has no dead-letter entry "${id}": it was removed or retried already, or never failed ` +
          '(list them with deadLetters())',
      );
    }
    return job;
  }

  #create(
    id: string,
    name: string,
    data: unknown,
    options: ResolvedJobOptions,
    schedule?: { key: string; tick: number },
  ): MemoryJob {
    const job: MemoryJob = {
      id,
      name,
      data,
      createdAt: Date.now(),
      options,
      scheduleKey: schedule?.key,
      scheduledFor: schedule?.tick,
      state: 'unknown',
      attemptsMade: 0,
      seq: 0,
      runAt: undefined,
      finishedAt: undefined,
      failedReason: undefined,
      resubmittedAt: undefined,
      timer: undefined,
      announced: false,
    };
    this.#jobs.set(id, job);
    return job;
  }

  /** Puts a job among the waiting ones now, or among the delayed ones for `delayMs`. */
  #enqueue(job: MemoryJob, delayMs: number): void {
    if (delayMs <= 0) {
      job.runAt = undefined;
      job.state = job.options.priority === undefined ? 'waiting' : 'prioritized';
      job.seq = ++this.#seq;
      this.#waiting.push({ job, seq: job.seq });
      this.#schedulePump();
      return;
    }
    job.state = 'delayed';
    job.runAt = Date.now() + delayMs;
    this.#delayed++;
    this.#armDelay(job);
  }

  #armDelay(job: MemoryJob): void {
    const wait = (job.runAt ?? 0) - Date.now();
    job.timer = setTimeout(
      () => {
        job.timer = undefined;
        if (job.state !== 'delayed' || this.#closing !== undefined) return;
        if ((job.runAt ?? 0) > Date.now()) return this.#armDelay(job); // a delay longer than one timer
        this.#delayed--;
        this.#enqueue(job, 0);
      },
      Math.min(Math.max(wait, 0), MAX_TIMER_MS),
    );
    job.timer.unref();
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || !this.#started || this.#closing !== undefined) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#closing === undefined && this.#activeJobs.size < this.#options.concurrency) {
      const next = this.#waiting.pop();
      if (next === undefined) return;
      if (next.seq !== next.job.seq || (next.job.state !== 'waiting' && next.job.state !== 'prioritized')) continue;
      const running: Promise<void> = this.#run(next.job).finally(() => {
        this.#activeJobs.delete(running);
        this.#schedulePump();
      });
      this.#activeJobs.add(running);
    }
  }

  async #run(job: MemoryJob): Promise<void> {
    job.state = 'active';
    const started = Date.now();
    if (job.scheduleKey !== undefined && !job.announced) {
      job.announced = true;
      this.emitEvent('schedule-executed', {
        queue: this.name,
        key: job.scheduleKey,
        name: job.name,
        id: job.id,
        scheduledFor: job.scheduledFor ?? job.createdAt,
      });
    }
    let failure: Error | undefined;
    try {
      const handler = this.#handlers.get(job.name);
      if (handler === undefined) {
        failure = new Error(
          `no handler for job "${job.name}" on queue ${this.name}: call handle('${job.name}', fn) before start()`,
        );
        this.reportError(failure);
      } else {
        await handler({
          id: job.id,
          name: job.name,
          data: job.data,
          attemptsMade: job.attemptsMade,
          ...(job.scheduleKey === undefined ? {} : { scheduleKey: job.scheduleKey }),
          ...(job.scheduledFor === undefined ? {} : { scheduledFor: job.scheduledFor }),
        });
      }
    } catch (error) {
      failure = asError(error);
    }
    job.attemptsMade++;
    const durationMs = Date.now() - started;
    if (failure === undefined) this.#succeeded(job, durationMs);
    else this.#failed(job, failure, durationMs);
  }

  #succeeded(job: MemoryJob, durationMs: number): void {
    const { name } = this;
    job.state = 'completed';
    job.finishedAt = Date.now();
    job.runAt = undefined;
    this.#keepCompleted(job);
    this.emitEvent('completed', { queue: name, id: job.id, name: job.name, durationMs, attempts: job.attemptsMade });
    if (job.attemptsMade > 1) {
      this.emitEvent('retry-completed', { queue: name, id: job.id, name: job.name, attempts: job.attemptsMade });
    }
    if (job.resubmittedAt !== undefined) {
      this.emitEvent('entry-resolved', { queue: name, id: job.id, name: job.name, how: 'completed' });
    }
    if (job.scheduleKey !== undefined) {
      this.emitEvent('execution-completed', {
        queue: name,
        key: job.scheduleKey,
        name: job.name,
        id: job.id,
        durationMs,
        ok: true,
      });
    }
  }

  #failed(job: MemoryJob, failure: Error, durationMs: number): void {
    const { name } = this;
    const error = messageOf(failure);
    job.failedReason = error;
    if (job.scheduleKey !== undefined) {
      this.emitEvent('execution-completed', {
        queue: name,
        key: job.scheduleKey,
        name: job.name,
        id: job.id,
        durationMs,
        ok: false,
        error,
      });
    }
    if (this.#closing !== undefined) {
      // closed while it ran: nothing is kept (a memory queue is not durable)
      job.state = 'unknown';
      this.#jobs.delete(job.id);
      return;
    }
    const delayMs = retryDelay(
      {
        attempts: job.options.attempts,
        backoff: job.options.backoff,
        retryForMs: job.options.retryForMs,
        since: job.resubmittedAt ?? job.createdAt,
      },
      job.attemptsMade,
    );
    if (delayMs !== undefined) {
      this.#enqueue(job, delayMs);
      this.emitEvent('retry-started', {
        queue: name,
        id: job.id,
        name: job.name,
        attempt: job.attemptsMade + 1,
        delayMs,
        error,
      });
      return;
    }
    job.state = 'failed';
    job.finishedAt = Date.now();
    this.#deadLetters.delete(job.id);
    this.#deadLetters.set(job.id, job);
    for (const [id] of this.#deadLetters) {
      if (this.#deadLetters.size <= this.#options.maxDeadLetters) break;
      this.#deadLetters.delete(id);
      this.#jobs.delete(id);
    }
    this.emitEvent('entry-added', { queue: name, id: job.id, name: job.name, attempts: job.attemptsMade, error });
  }

  #keepCompleted(job: MemoryJob): void {
    this.#completed.set(job.id, job);
    for (const [id] of this.#completed) {
      if (this.#completed.size <= this.#options.keepCompleted) break;
      this.#completed.delete(id);
      this.#jobs.delete(id);
    }
  }

  /** Adds the job of a schedule's tick (unless that tick has one already, or the queue is full). */
  #tick(entry: MemorySchedule, tick: number): void {
    if (this.#closing !== undefined) return;
    const id = `repeat:${entry.key}:${tick}`;
    if (this.#jobs.has(id)) return;
    try {
      this.#assertRoom();
    } catch (error) {
      this.reportError(new Error(`tick ${tick} of schedule "${entry.key}" skipped: ${messageOf(error)}`));
      return;
    }
    const job = this.#create(id, entry.name, entry.data, entry.options, { key: entry.key, tick });
    this.#enqueue(job, 0);
  }

  #info(job: MemoryJob): JobInfo {
    return {
      id: job.id,
      name: job.name,
      data: job.data,
      state: job.state,
      attemptsMade: job.attemptsMade,
      attempts: job.options.attempts,
      createdAt: job.createdAt,
      ...(job.state === 'delayed' && job.runAt !== undefined ? { runAt: job.runAt } : {}),
      ...(job.finishedAt === undefined ? {} : { finishedAt: job.finishedAt }),
      ...(job.failedReason === undefined ? {} : { failedReason: job.failedReason }),
      ...(job.options.priority === undefined ? {} : { priority: job.options.priority }),
      ...(job.scheduleKey === undefined ? {} : { scheduleKey: job.scheduleKey }),
    };
  }
}
