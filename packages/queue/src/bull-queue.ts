import type { Job, Queue, Worker } from 'bullmq';
import { isUnisocketError } from '@unisocket/core';
import { type Breaker, BreakerRegistry } from './breaker';
import {
  type BullConnection,
  type BullModules,
  createClient,
  describeConnection,
  loadBullModules,
  type OwnedClient,
  validateConnection,
} from './bull-connection';
import { DueJobPromoter } from './bull-promoter';
import { JobRunner } from './bull-runner';
import { bullJobOptions, tickOf, toJobInfo, toJobState, unwrapData, wrapData } from './bull-jobs';
import { QueueEventEmitter } from './events';
import {
  type ResolvedJobQueueOptions,
  resolveJobOptions,
  resolvePage,
  resolveQueueOptions,
  resolveSchedule,
  validateJobName,
  validateScheduleKey,
} from './options';
import type {
  BreakerOptions,
  JobHandler,
  JobInfo,
  JobOptions,
  JobQueue,
  JobQueueOptions,
  ScheduleInfo,
  ScheduleOptions,
} from './types';
import { messageOf, notFound, unavailable, withTimeout } from './util';

/** The default BullMQ key prefix of a {@link BullJobQueue}. */
export const DEFAULT_BULL_PREFIX = 'unisocket:bull';
/** Recurring jobs {@link BullJobQueue.schedules} lists at most. */
export const MAX_LISTED_SCHEDULES = 10_000;

/** Options of {@link BullJobQueue}. */
export interface BullJobQueueOptions extends JobQueueOptions {
  /** Where Redis is: `{ url }` or an ioredis client (duplicated, never used itself). */
  connection: BullConnection;
  /** BullMQ's key prefix (every key is `<prefix>:<name>:…`). @default 'unisocket:bull' */
  prefix?: string;
  /**
   * The longest a Redis call (and connecting, at `start` or at the first call) may take before it is refused with
   * `UNAVAILABLE`. @default 5_000
   */
  timeoutMs?: number;
  /** The registry the queue's breaker (`queue:<name>`) lives in, so it shows in health and stats. @default a new one */
  breakers?: BreakerRegistry;
  /** Thresholds of the queue's breaker. @default the registry's defaults (5 failures, 10 s) */
  breaker?: BreakerOptions;
}

interface Producer {
  readonly queue: Queue;
  readonly client: OwnedClient;
}

const OWN_KEYS = ['connection', 'prefix', 'timeoutMs', 'breakers', 'breaker'];

/**
 * A {@link JobQueue} on BullMQ (Redis): one BullMQ `Queue` (the producer) and, once started, one `Worker`. Jobs,
 * delays, schedules and dead letters live in Redis (`durable: true`): a restarted node picks up where it left off and
 * any node's worker may run a job, each tick of a recurring job once across all nodes (`upsertJobScheduler`). The
 * dead-letter queue is BullMQ's `failed` set. Events are emitted by the node whose worker ran the job (once
 * cluster-wide); `entry-resubmitted` and `entry-resolved` (`removed`) by the node that was asked.
 *
 * BullMQ and ioredis are optional peers, loaded at the first call that needs Redis. Calls that reach Redis are bounded
 * by `timeoutMs`; `add`, `schedule` and `unschedule` go through the breaker `queue:<name>`, so an outage fails fast.
 */
export class BullJobQueue extends QueueEventEmitter implements JobQueue {
  /** The queue's name (the BullMQ queue name). */
  readonly name: string;
  /** Always `'bullmq'`. */
  readonly kind = 'bullmq' as const;
  /** Always `true`: jobs, delays, schedules and dead letters live in Redis. */
  readonly durable = true;
  /** BullMQ's key prefix. */
  readonly prefix: string;
  /** The breaker around the producer's Redis calls (`queue:<name>`). */
  readonly breaker: Breaker;
  readonly #options: ResolvedJobQueueOptions;
  readonly #connection: BullConnection;
  readonly #where: string;
  readonly #timeoutMs: number;
  readonly #handlers = new Map<string, JobHandler<unknown>>();
  /** The worker side: processor, backoff strategy, the events of the jobs it runs. */
  readonly #runner: JobRunner;
  #producer: Promise<Producer> | undefined;
  /** The producer once connected (for the promotions of due jobs, which never connect by themselves). */
  #connected: Producer | undefined;
  /** Promotes delayed jobs at their due time (see {@link DueJobPromoter}). */
  readonly #promoter: DueJobPromoter;
  #starting: Promise<void> | undefined;
  #worker: { worker: Worker; client: OwnedClient } | undefined;
  #closing: Promise<void> | undefined;

  /** @throws {TypeError} for bad options, saying what to change */
  constructor(options: BullJobQueueOptions) {
    super();
    this.#options = resolveQueueOptions(options, OWN_KEYS);
    this.name = this.#options.name;
    this.#connection = validateConnection(options.connection);
    this.#where = describeConnection(this.#connection);
    const prefix = options.prefix ?? DEFAULT_BULL_PREFIX;
    if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 128) {
      throw new TypeError(`prefix must be a non-empty string of at most 128 characters, got ${JSON.stringify(prefix)}`);
    }
    this.prefix = prefix;
    const timeoutMs = options.timeoutMs ?? 5_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) {
      throw new TypeError(`timeoutMs must be an integer from 100 to 600000, got ${String(timeoutMs)}`);
    }
    this.#timeoutMs = timeoutMs;
    this.breaker = (options.breakers ?? new BreakerRegistry()).get(`queue:${this.name}`, options.breaker);
    this.#promoter = new DueJobPromoter(async (id, at) => {
      const producer = this.#connected;
      if (producer === undefined) return;
      // only a job still due at `at`: one that ran meanwhile, failed again and was delayed anew (a late timer under
      // load) must wait for its new time, not be promoted at once
      const due = await withTimeout(
        dueTime(producer.queue, producer.client, id),
        this.#timeoutMs,
        () => new Error('timed out'),
      );
      if (due === undefined || due > at + 5) return;
      await withTimeout(producer.queue.getBackend().promote(id), this.#timeoutMs, () => new Error('timed out'));
    });
    this.#runner = new JobRunner({
      name: this.name,
      handler: (name) => this.#handlers.get(name),
      emit: (event, ...args) => this.emitEvent(event, ...args),
      reportError: (error) => this.reportError(error),
      promoter: this.#promoter,
    });
  }

  /** Registers the handler of jobs named `name` on this node (replacing any previous one). */
  handle<T>(name: string, handler: JobHandler<T>): void {
    this.#assertOpen();
    validateJobName(name);
    if (typeof handler !== 'function') throw new TypeError(`the handler of "${name}" must be a function`);
    this.#handlers.set(name, handler as JobHandler<unknown>);
  }

  /**
   * Connects (within `timeoutMs`) and starts this node's worker. Idempotent; after a failure, the next call tries again.
   * @throws {UnisocketError} `UNAVAILABLE` naming the Redis URL when it cannot be reached, or when bullmq/ioredis are
   * not installed
   */
  start(): Promise<void> {
    this.#assertOpen();
    this.#starting ??= this.#start().catch((error: unknown) => {
      this.#starting = undefined;
      throw error;
    });
    return this.#starting;
  }

  /**
   * Adds a job (through the breaker). With a `jobId` still known, answers the existing job.
   * @throws {TypeError} for a bad name or options
   * @throws {UnisocketError} `UNAVAILABLE` when Redis does not take it within `timeoutMs`, the breaker is open, or the
   * queue is closed
   */
  async add<T>(name: string, data: T, options?: JobOptions): Promise<JobInfo<T>> {
    this.#assertOpen();
    validateJobName(name);
    const resolved = resolveJobOptions(options, this.#options);
    const opts = bullJobOptions(resolved, this.#options);
    return this.#guarded('add a job', async ({ queue, client }) => {
      const job = await queue.add(name, wrapData(data), opts);
      if (resolved.jobId !== undefined) {
        // BullMQ adds nothing for a known id but answers with the new data: read what is stored
        const stored = await queue.getJob(resolved.jobId);
        if (stored !== undefined) {
          const state = toJobState(await stored.getState());
          const runAt = state === 'delayed' ? await dueTime(queue, client, resolved.jobId) : undefined;
          if (runAt !== undefined) this.#promoter.at(resolved.jobId, runAt);
          return toJobInfo(stored, state, runAt) as JobInfo<T>;
        }
      }
      const state = resolved.delayMs > 0 ? 'delayed' : resolved.priority === undefined ? 'waiting' : 'prioritized';
      const runAt = state === 'delayed' ? job.timestamp + resolved.delayMs : undefined;
      if (runAt !== undefined) this.#promoter.at(String(job.id), runAt);
      return toJobInfo(job, state, runAt) as JobInfo<T>;
    });
  }

  /**
   * Creates or replaces the recurring job `key` with BullMQ's `upsertJobScheduler` (through the breaker): each tick
   * runs once across all nodes.
   * @throws {TypeError} for a bad key, schedule (a malformed cron pattern: naming it and cron-parser's reason), name
   * or options
   * @throws {UnisocketError} `UNAVAILABLE` as {@link add}
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
    const opts = bullJobOptions(resolveJobOptions(options, this.#options, true), this.#options);
    const repeat = spec.kind === 'every' ? { every: spec.everyMs } : { pattern: spec.pattern, tz: spec.tz };
    return this.#guarded('schedule a recurring job', async ({ queue }) => {
      const next = await queue.upsertJobScheduler(key, repeat, { name, data: wrapData(data), opts });
      const tick = next === undefined ? undefined : tickOf(next);
      if (next !== undefined && tick !== undefined && tick > Date.now()) this.#promoter.at(String(next.id), tick);
      return {
        key,
        name,
        ...(spec.kind === 'every' ? { everyMs: spec.everyMs } : { pattern: spec.pattern, tz: spec.tz }),
        ...(tick === undefined ? {} : { next: tick }),
      };
    });
  }

  /** Removes a recurring job (through the breaker). @returns `false` when there was none */
  async unschedule(key: string): Promise<boolean> {
    this.#assertOpen();
    validateScheduleKey(key);
    return this.#guarded('remove a recurring job', ({ queue }) => queue.removeJobScheduler(key));
  }

  /** The recurring jobs (at most 10 000). */
  async schedules(): Promise<ScheduleInfo[]> {
    this.#assertOpen();
    return this.#bounded('list the recurring jobs', async ({ queue }) => {
      const schedulers = await queue.getJobSchedulers(0, MAX_LISTED_SCHEDULES - 1, true);
      return schedulers.map((s) => ({
        key: s.key,
        name: s.name,
        ...(s.pattern === undefined ? {} : { pattern: s.pattern }),
        ...(s.every === undefined ? {} : { everyMs: s.every }),
        ...(s.tz === undefined ? {} : { tz: s.tz }),
        ...(s.next === undefined || s.next === null ? {} : { next: s.next }),
      }));
    });
  }

  /** A job by id (completed ones only while kept), or `undefined`. */
  async job(id: string): Promise<JobInfo | undefined> {
    this.#assertOpen();
    if (typeof id !== 'string' || id.length === 0) throw new TypeError('a job id must be a non-empty string');
    return this.#bounded('read a job', async ({ queue, client }) => {
      const job = await queue.getJob(id);
      if (job === undefined) return undefined;
      const state = toJobState(await job.getState());
      return toJobInfo(job, state, state === 'delayed' ? await dueTime(queue, client, id) : undefined);
    });
  }

  /** The dead-letter queue (BullMQ's `failed` set), newest first (`limit` defaults to 100, at most 1 000). */
  async deadLetters(options: { offset?: number; limit?: number } = {}): Promise<{ total: number; entries: JobInfo[] }> {
    this.#assertOpen();
    const { offset, limit } = resolvePage(options);
    return this.#bounded('list the dead letters', async ({ queue }) => {
      const [total, jobs] = await Promise.all([queue.getFailedCount(), queue.getFailed(offset, offset + limit - 1)]);
      return { total, entries: jobs.filter((job) => job !== undefined).map((job) => toJobInfo(job, 'failed')) };
    });
  }

  /**
   * Sends a dead-letter entry back to run again (`job.retry('failed')`), its attempts (and `retryForMs` time)
   * starting over.
   * @throws {UnisocketError} `NOT_FOUND` when `id` is not in the dead-letter queue; `UNAVAILABLE` as {@link add}
   */
  async retryDeadLetter(id: string): Promise<JobInfo> {
    this.#assertOpen();
    return this.#bounded('retry a dead letter', async ({ queue }) => {
      const job = await this.#deadLetter(queue, id);
      const { data } = unwrapData(job.data);
      await job.updateData(wrapData(data, Date.now()));
      try {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      } catch (error) {
        throw notFound(`queue ${this.name} could not retry dead letter "${id}": ${messageOf(error)}`);
      }
      this.emitEvent('entry-resubmitted', { queue: this.name, id, name: job.name });
      return toJobInfo(job, job.priority ? 'prioritized' : 'waiting');
    });
  }

  /**
   * Removes a dead-letter entry (`job.remove()`).
   * @throws {UnisocketError} `NOT_FOUND` when `id` is not in the dead-letter queue; `UNAVAILABLE` as {@link add}
   */
  async removeDeadLetter(id: string): Promise<void> {
    this.#assertOpen();
    return this.#bounded('remove a dead letter', async ({ queue }) => {
      const job = await this.#deadLetter(queue, id);
      await job.remove();
      this.emitEvent('entry-resolved', { queue: this.name, id, name: job.name, how: 'removed' });
    });
  }

  /** Jobs per state (`waiting` includes the prioritized ones; `completed` counts those kept). */
  async counts(): Promise<Record<'waiting' | 'delayed' | 'active' | 'completed' | 'failed', number>> {
    this.#assertOpen();
    return this.#bounded('count the jobs', async ({ queue }) => {
      const c = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
      return {
        waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
        delayed: c.delayed ?? 0,
        active: c.active ?? 0,
        completed: c.completed ?? 0,
        failed: c.failed ?? 0,
      };
    });
  }

  /**
   * Stops this node's worker, letting its active jobs finish up to `timeoutMs` (a job still running then is left to
   * BullMQ's stalled-job check, which runs it again on a live node), and closes every connection. Jobs, delays,
   * schedules and dead letters stay in Redis. Idempotent.
   */
  close(timeoutMs = 5_000): Promise<void> {
    this.#closing ??= this.#close(timeoutMs);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#promoter.stop();
    await this.#starting?.catch(() => undefined);
    const running = this.#worker;
    this.#worker = undefined;
    if (running !== undefined) {
      const { worker, client } = running;
      const bound = <T>(promise: Promise<T>) =>
        withTimeout(promise, this.#timeoutMs, () => new Error('timed out')).catch(() => undefined);
      // take no more jobs, let the active ones finish (up to timeoutMs), then close: forced when some still run, so
      // BullMQ's lock and stalled-check timers stop too (the stalled check of a live node runs such a job again)
      await bound(worker.pause(true));
      const deadline = Date.now() + Math.max(0, timeoutMs);
      const active = this.#runner.active;
      while (active.size > 0 && Date.now() < deadline) {
        await withTimeout(Promise.allSettled([...active]), deadline - Date.now(), () => new Error()).catch(
          () => undefined,
        );
      }
      await bound(worker.close(active.size > 0));
      client.disconnect();
    }
    const producer = await this.#producer?.catch(() => undefined);
    this.#producer = undefined;
    this.#connected = undefined;
    if (producer !== undefined) await this.#dispose(producer);
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) {
      throw unavailable(`queue ${this.name} is closed: create a new queue to add or run jobs`);
    }
  }

  /** Runs `fn` on the producer within `timeoutMs`; failures other than `NOT_FOUND` become `UNAVAILABLE`. */
  async #bounded<T>(what: string, fn: (producer: Producer) => Promise<T>): Promise<T> {
    try {
      const producer = await this.#ready();
      return await withTimeout(
        fn(producer),
        this.#timeoutMs,
        () => new Error(`Redis at ${this.#where} did not answer within ${this.#timeoutMs} ms`),
      );
    } catch (error) {
      if (isUnisocketError(error) || error instanceof TypeError) throw error;
      throw unavailable(`queue ${this.name} could not ${what}: ${messageOf(error)}`, error);
    }
  }

  /** {@link #bounded} through the breaker. */
  #guarded<T>(what: string, fn: (producer: Producer) => Promise<T>): Promise<T> {
    return this.breaker.execute(() => this.#bounded(what, fn));
  }

  /** The producer, connecting it (within `timeoutMs`) on first use or after a failed attempt. */
  #ready(): Promise<Producer> {
    this.#producer ??= this.#connect().catch((error: unknown) => {
      this.#producer = undefined;
      throw error;
    });
    return this.#producer;
  }

  async #connect(): Promise<Producer> {
    const modules = await loadBullModules();
    const client = createClient(modules, this.#connection, 'producer', this.#timeoutMs, (error) =>
      this.#clientError(error),
    );
    const queue = new modules.bullmq.Queue(this.name, { connection: client as never, prefix: this.prefix });
    queue.on('error', (error) => this.#clientError(error));
    const producer = { queue, client };
    try {
      await withTimeout(queue.waitUntilReady(), this.#timeoutMs, () => new Error(`no answer in ${this.#timeoutMs} ms`));
    } catch (error) {
      await this.#dispose(producer);
      throw this.#unreachable(error);
    }
    if (this.#closing !== undefined) {
      await this.#dispose(producer);
      throw unavailable(`queue ${this.name} is closed: create a new queue to add or run jobs`);
    }
    this.#connected = producer;
    return producer;
  }

  async #dispose({ queue, client }: Producer): Promise<void> {
    await withTimeout(queue.close(), this.#timeoutMs, () => new Error('close timed out')).catch(() => {});
    client.disconnect();
  }

  /**
   * An error of a BullMQ client or of one of the queue's Redis connections (the same failure often comes from both: one
   * message, so it is reported once per 10 s).
   */
  #clientError(error: Error): void {
    this.reportError(new Error(`queue ${this.name} (Redis at ${this.#where}): ${error.message}`, { cause: error }));
  }

  #unreachable(error: unknown): Error {
    return unavailable(
      `queue ${this.name} cannot reach Redis at ${this.#where}: ${messageOf(error)}; check that Redis runs there ` +
        'and the connection option points to it',
      error,
    );
  }

  async #start(): Promise<void> {
    await this.#ready();
    const modules = await loadBullModules();
    if (this.#closing !== undefined) throw unavailable(`queue ${this.name} is closed`);
    const client = createClient(modules, this.#connection, 'worker', this.#timeoutMs, (error) =>
      this.#clientError(error),
    );
    const worker = this.#createWorker(modules, client);
    try {
      await withTimeout(
        worker.waitUntilReady(),
        this.#timeoutMs,
        () => new Error(`no answer in ${this.#timeoutMs} ms`),
      );
    } catch (error) {
      await withTimeout(worker.close(true), this.#timeoutMs, () => new Error('close timed out')).catch(() => {});
      client.disconnect();
      throw this.#unreachable(error);
    }
    this.#worker = { worker, client };
  }

  #createWorker(modules: BullModules, client: OwnedClient): Worker {
    const { concurrency, keepCompleted, maxDeadLetters } = this.#options;
    const runner = this.#runner;
    const worker = new modules.bullmq.Worker(this.name, (job: Job) => runner.process(job), {
      connection: client as never,
      prefix: this.prefix,
      concurrency,
      // an idle worker re-checks for due delayed jobs at least every second: when the node that added a delayed job
      // (and held BullMQ's wake-up marker) dies, another node runs it at most ~1 s late instead of 5 s (the default)
      drainDelay: 1,
      removeOnComplete: { count: keepCompleted },
      removeOnFail: { count: maxDeadLetters },
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, _error?: Error, job?: unknown) =>
          runner.backoff(attemptsMade, job as Job),
      },
    });
    worker.on('error', (error) => this.#clientError(error));
    worker.on('completed', (job) => runner.completed(job));
    worker.on('failed', (job, error) => {
      if (job !== undefined) runner.failed(job, error);
    });
    return worker;
  }

  async #deadLetter(queue: Queue, id: string): Promise<Job> {
    if (typeof id !== 'string' || id.length === 0) throw new TypeError('a dead-letter id must be a non-empty string');
    const job = await queue.getJob(id);
    const state = job === undefined ? 'unknown' : await job.getState();
    if (job === undefined || state !== 'failed') {
      throw notFound(
        `queue ${this.name} has no dead-letter entry "${id}" (the job is ${job === undefined ? 'gone' : state}): ` +
          'it was removed or retried already, or never failed (list them with deadLetters())',
      );
    }
    return job;
  }
}

/** When a delayed job is due (epoch ms): BullMQ's delayed score is the due time × 4096 plus a counter. */
async function dueTime(queue: Queue, client: OwnedClient, id: string): Promise<number | undefined> {
  const score = await client.zscore(queue.keys.delayed!, id);
  return score === null ? undefined : Math.floor(Number(score) / 0x1000);
}
