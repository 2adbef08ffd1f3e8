import type { Job } from 'bullmq';
import { retryDelay } from './backoff';
import { retryPolicyOf, tickOf, unwrapData } from './bull-jobs';
import type { DueJobPromoter } from './bull-promoter';
import type { JobHandler, QueueEvents } from './types';
import { asError } from './util';

type OperationalEvent = Exclude<keyof QueueEvents, 'error'>;

/** What a {@link JobRunner} needs of its queue. @internal */
export interface RunnerHost {
  readonly name: string;
  handler(name: string): JobHandler<unknown> | undefined;
  emit<E extends OperationalEvent>(event: E, ...args: QueueEvents[E]): void;
  reportError(error: Error): void;
  readonly promoter: DueJobPromoter;
}

/**
 * The worker side of a BullJobQueue: its processor (the handler of the job's name), its backoff strategy (the shared
 * {@link retryDelay}) and the events of the jobs it ran, from the worker's `completed` and `failed` events. Tracks the
 * jobs running, so that close can wait for them. @internal
 */
export class JobRunner {
  /** Handler durations and retry delays of the jobs this worker ran, for its events. */
  readonly #durations = new WeakMap<Job, number>();
  readonly #retryDelays = new WeakMap<Job, number>();
  readonly #active = new Set<Promise<null>>();

  constructor(private readonly host: RunnerHost) {}

  /** The jobs running now. */
  get active(): ReadonlySet<Promise<null>> {
    return this.#active;
  }

  /** The worker's processor: runs the job, tracked. */
  process(job: Job): Promise<null> {
    const running = this.#run(job);
    this.#active.add(running);
    const untrack = () => {
      this.#active.delete(running);
    };
    running.then(untrack, untrack);
    return running;
  }

  async #run(job: Job): Promise<null> {
    const { host } = this;
    const scheduleKey = job.repeatJobKey;
    const scheduledFor = tickOf(job);
    if (scheduleKey !== undefined && scheduledFor !== undefined)
      host.promoter.afterTick(job, scheduleKey, scheduledFor);
    if (scheduleKey !== undefined && job.attemptsMade === 0) {
      host.emit('schedule-executed', {
        queue: host.name,
        key: scheduleKey,
        name: job.name,
        id: String(job.id),
        scheduledFor: scheduledFor ?? job.timestamp,
      });
    }
    const started = Date.now();
    try {
      const handler = host.handler(job.name);
      if (handler === undefined) {
        const error = new Error(
          `no handler for job "${job.name}" on queue ${host.name}: call handle('${job.name}', fn) on every node before start()`,
        );
        host.reportError(error);
        throw error;
      }
      await handler({
        id: String(job.id),
        name: job.name,
        data: unwrapData(job.data).data,
        attemptsMade: job.attemptsMade,
        ...(scheduleKey === undefined ? {} : { scheduleKey }),
        ...(scheduledFor === undefined ? {} : { scheduledFor }),
      });
      return null;
    } catch (error) {
      throw asError(error);
    } finally {
      this.#durations.set(job, Date.now() - started);
    }
  }

  /** The worker's backoff strategy: the shared {@link retryDelay}; -1 tells BullMQ to fail the job for good. */
  backoff(failures: number, job: Job | undefined): number {
    const policy = job === undefined ? undefined : retryPolicyOf(job);
    if (job === undefined || policy === undefined) return -1;
    const delay = retryDelay(policy, failures);
    if (delay === undefined) return -1;
    this.#retryDelays.set(job, delay);
    return delay;
  }

  /** The worker's `completed` event. */
  completed(job: Job): void {
    const { host } = this;
    const id = String(job.id);
    const attempts = job.attemptsMade;
    const durationMs = this.#durations.get(job) ?? 0;
    host.emit('completed', { queue: host.name, id, name: job.name, durationMs, attempts });
    if (attempts > 1) host.emit('retry-completed', { queue: host.name, id, name: job.name, attempts });
    if (unwrapData(job.data).resubmittedAt !== undefined) {
      host.emit('entry-resolved', { queue: host.name, id, name: job.name, how: 'completed' });
    }
    if (job.repeatJobKey !== undefined) {
      const key = job.repeatJobKey;
      host.emit('execution-completed', { queue: host.name, key, name: job.name, id, durationMs, ok: true });
    }
  }

  /** The worker's `failed` event: a retry scheduled, or (`finishedOn` set) a dead letter. */
  failed(job: Job, failure: Error): void {
    const { host } = this;
    const id = String(job.id);
    const error = failure.message;
    if (job.repeatJobKey !== undefined) {
      host.emit('execution-completed', {
        queue: host.name,
        key: job.repeatJobKey,
        name: job.name,
        id,
        durationMs: this.#durations.get(job) ?? 0,
        ok: false,
        error,
      });
    }
    if (job.finishedOn) {
      host.emit('entry-added', { queue: host.name, id, name: job.name, attempts: job.attemptsMade, error });
      return;
    }
    const delayMs = this.#retryDelays.get(job) ?? 0;
    // the retry is due delayMs after BullMQ moved it to the delayed set, which happened before this event
    if (delayMs > 0) host.promoter.at(id, Date.now() + delayMs);
    host.emit('retry-started', { queue: host.name, id, name: job.name, attempt: job.attemptsMade + 1, delayMs, error });
  }
}
