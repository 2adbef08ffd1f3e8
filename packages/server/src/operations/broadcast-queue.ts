import { createHash } from 'node:crypto';
import {
  type ChannelName,
  ErrorCode,
  type PublishAck,
  type PublishOptions,
  UnisocketError,
  checkChannelName,
  checkEventName,
  isValidMessageId,
} from '@unisocket/core';
import {
  type JobContext,
  type JobInfo,
  type JobOptions,
  type JobQueue,
  MAX_DEAD_LETTER_PAGE,
  type ScheduleInfo,
  type ScheduleOptions,
} from '@unisocket/queue';

/** Options of {@link BroadcastQueue.broadcast}: when, how often and in which order the broadcast is tried. */
export interface QueuedBroadcastOptions
  extends Pick<JobOptions, 'delayMs' | 'attempts' | 'retryForMs' | 'backoff' | 'priority' | 'jobId'> {
  /**
   * Refuse unless the queue survives a restart (Redis): a `UnisocketError` `UNAVAILABLE` says what to configure.
   * @default false
   */
  durable?: boolean;
}

/** What a recurring broadcast's producer gets at each tick. */
export interface BroadcastTick {
  /** The recurring broadcast's key. */
  readonly key: string;
  /** The tick's time (epoch ms). */
  readonly scheduledFor: number;
}

/** Computes a recurring broadcast's data at each tick (on whichever node runs the tick). */
export type BroadcastProducer = (tick: BroadcastTick) => unknown;

/** The queues whose dead letters the service lists. */
export type QueueName = 'broadcasts' | 'webhooks';

/** A dead-letter entry, with the queue it is in. */
export type DeadLetter = JobInfo & { readonly queue: QueueName };

/** The data of a queued broadcast job. @internal */
interface BroadcastJob {
  channel: ChannelName;
  event: string;
  data?: unknown;
}

/** The data of a recurring broadcast job. @internal */
interface RecurringJob {
  key: string;
  channel: ChannelName;
  event: string;
}

const KEY_PATTERN = /^[A-Za-z0-9_.:=@-]{1,40}$/;

/**
 * Queued, delayed and recurring broadcasts (`service.queue`), and the dead-letter queue of broadcasts and webhooks.
 * On BullMQ when the service has a Redis (durable, one run per tick across nodes), in memory otherwise.
 *
 * @example
 * ```ts
 * await service.queue.broadcast('news', 'digest', { items }, { delayMs: 60_000, attempts: 5 });
 * await service.queue.recurring('prices', { everyMs: 1_000 }, 'prices', 'tick', () => readPrices());
 * const { entries } = await service.queue.deadLetters();
 * ```
 */
export class BroadcastQueue {
  readonly #queues: ReadonlyMap<QueueName, JobQueue>;
  readonly #broadcasts: JobQueue;
  readonly #producers = new Map<string, BroadcastProducer>();
  readonly #publish: (
    channel: ChannelName,
    event: string,
    data: unknown,
    options: PublishOptions,
  ) => Promise<PublishAck>;

  /** @internal */
  constructor(
    queues: ReadonlyMap<QueueName, JobQueue>,
    publish: (channel: ChannelName, event: string, data: unknown, options: PublishOptions) => Promise<PublishAck>,
  ) {
    this.#queues = queues;
    this.#broadcasts = queues.get('broadcasts')!;
    this.#publish = publish;
    this.#broadcasts.handle<BroadcastJob>('broadcast', (job) => this.#runBroadcast(job));
    this.#broadcasts.handle<RecurringJob>('recurring-broadcast', (job) => this.#runRecurring(job));
  }

  /** `true` when queued broadcasts survive a restart (BullMQ on Redis). */
  get durable(): boolean {
    return this.#broadcasts.durable;
  }

  /** `'bullmq'` or `'memory'`. */
  get kind(): 'bullmq' | 'memory' {
    return this.#broadcasts.kind;
  }

  /**
   * Queues a broadcast: published after `delayMs`, tried `attempts` times with `backoff` between tries (a broker that
   * cannot take it fails the try), then moved to the dead-letter queue. Each try publishes with the same idempotency
   * key, so a try that did publish is never delivered twice (within the broker's idempotency window).
   * @throws {TypeError} for a bad option
   * @throws {UnisocketError} `BAD_REQUEST` for an invalid channel, event or data that is not JSON; `UNAVAILABLE` when
   *   `durable` is asked of an in-memory queue, or the queue's Redis cannot take it
   */
  async broadcast(
    channel: ChannelName,
    event: string,
    data?: unknown,
    options: QueuedBroadcastOptions = {},
  ): Promise<JobInfo> {
    checkMessage(channel, event, data);
    const { durable, ...jobOptions } = options;
    if (durable === true) this.#requireDurable('a durable broadcast');
    return this.#broadcasts.add<BroadcastJob>(
      'broadcast',
      data === undefined ? { channel, event } : { channel, event, data },
      jobOptions,
    );
  }

  /**
   * Creates or replaces the recurring broadcast `key`: at every tick of `schedule` (a cron `pattern` or `everyMs`),
   * `producer` computes the data and it is published as `event` on `channel`. With Redis each tick runs once across all
   * nodes; call this with the same key on every node (the node that runs a tick uses its own producer).
   * @throws {TypeError} for a bad key, schedule (a malformed cron pattern names the problem) or producer
   */
  async recurring(
    key: string,
    schedule: ScheduleOptions,
    channel: ChannelName,
    event: string,
    producer: BroadcastProducer,
  ): Promise<ScheduleInfo> {
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      throw new TypeError(
        `a recurring broadcast's key must be 1-40 characters of [A-Za-z0-9_.:=@-], got ${JSON.stringify(key)}`,
      );
    }
    if (typeof producer !== 'function') {
      throw new TypeError(
        'recurring(key, schedule, channel, event, producer): producer must be a function returning the data',
      );
    }
    checkMessage(channel, event, undefined);
    this.#producers.set(key, producer);
    try {
      return await this.#broadcasts.schedule(key, schedule, 'recurring-broadcast', { key, channel, event });
    } catch (error) {
      this.#producers.delete(key);
      throw error;
    }
  }

  /** Stops a recurring broadcast (on every node). @returns `false` when there was none */
  async cancelRecurring(key: string): Promise<boolean> {
    this.#producers.delete(key);
    return this.#broadcasts.unschedule(key);
  }

  /** The recurring broadcasts. */
  schedules(): Promise<ScheduleInfo[]> {
    return this.#broadcasts.schedules();
  }

  /** A queued broadcast by id, or `undefined`. */
  job(id: string): Promise<JobInfo | undefined> {
    return this.#broadcasts.job(id);
  }

  /**
   * The dead-letter queue: jobs that exhausted their tries, newest first, from the broadcast and webhook queues (or
   * one of them).
   */
  async deadLetters(options: { queue?: QueueName; offset?: number; limit?: number } = {}): Promise<{
    total: number;
    entries: DeadLetter[];
  }> {
    const offset = options.offset ?? 0;
    const limit = options.limit ?? 50;
    if (!Number.isInteger(offset) || offset < 0)
      throw new TypeError(`offset must be an integer >= 0, got ${String(offset)}`);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) {
      throw new TypeError(`limit must be an integer from 1 to 1000, got ${String(limit)}`);
    }
    const names = options.queue === undefined ? [...this.#queues.keys()] : [this.#queueName(options.queue)];
    let total = 0;
    const entries: DeadLetter[] = [];
    for (const name of names) {
      // enough of each queue to page through their union by time, read in pages the queue accepts
      const queue = this.#queues.get(name)!;
      for (let read = 0; read < offset + limit; ) {
        const page = await queue.deadLetters({
          offset: read,
          limit: Math.min(MAX_DEAD_LETTER_PAGE, offset + limit - read),
        });
        if (read === 0) total += page.total;
        for (const entry of page.entries) entries.push({ ...entry, queue: name });
        read += page.entries.length;
        if (page.entries.length === 0 || read >= page.total) break;
      }
    }
    entries.sort((a, b) => (b.finishedAt ?? b.createdAt) - (a.finishedAt ?? a.createdAt));
    return { total, entries: entries.slice(offset, offset + limit) };
  }

  /**
   * Sends a dead-letter entry back to run again, its tries starting over.
   * @throws {UnisocketError} `NOT_FOUND` when the entry is not (or no longer) in the dead-letter queue
   */
  retryDeadLetter(queue: QueueName, id: string): Promise<JobInfo> {
    return this.#queues.get(this.#queueName(queue))!.retryDeadLetter(id);
  }

  /**
   * Removes a dead-letter entry.
   * @throws {UnisocketError} `NOT_FOUND` when the entry is not (or no longer) in the dead-letter queue
   */
  removeDeadLetter(queue: QueueName, id: string): Promise<void> {
    return this.#queues.get(this.#queueName(queue))!.removeDeadLetter(id);
  }

  /** Jobs per state, per queue. */
  async counts(): Promise<Record<string, Awaited<ReturnType<JobQueue['counts']>>>> {
    const out: Record<string, Awaited<ReturnType<JobQueue['counts']>>> = {};
    for (const [name, queue] of this.#queues) out[name] = await queue.counts();
    return out;
  }

  #queueName(queue: unknown): QueueName {
    if (typeof queue !== 'string' || !this.#queues.has(queue as QueueName)) {
      throw new UnisocketError(
        ErrorCode.NOT_FOUND,
        `no queue ${JSON.stringify(queue)}: the queues are ${[...this.#queues.keys()].join(', ')}`,
      );
    }
    return queue as QueueName;
  }

  #requireDurable(what: string): void {
    if (this.#broadcasts.durable) return;
    throw new UnisocketError(
      ErrorCode.UNAVAILABLE,
      `${what} needs a Redis-backed queue: set queue.redis (or use broker: { type: 'redis' }) and install bullmq; this service's queue is in memory and loses its jobs on restart`,
    );
  }

  async #runBroadcast(job: JobContext<BroadcastJob>): Promise<PublishAck> {
    const { channel, event, data } = job.data;
    return this.#publish(channel, event, data, { id: publishId(`q.${job.id}`) });
  }

  async #runRecurring(job: JobContext<RecurringJob>): Promise<PublishAck> {
    const { key, channel, event } = job.data;
    const producer = this.#producers.get(key);
    if (producer === undefined) {
      throw new Error(
        `no producer for the recurring broadcast "${key}" on this node: call service.queue.recurring("${key}", …) on every node`,
      );
    }
    const scheduledFor = job.scheduledFor ?? Date.now();
    const data = await producer({ key, scheduledFor });
    // one id per tick: a tick run twice (a retry, a second node) is published once
    return this.#publish(channel, event, data, { id: publishId(`r.${key}.${scheduledFor}`) });
  }
}

/** A valid idempotency key from `raw` (hashed when too long or not in the alphabet). */
function publishId(raw: string): string {
  if (isValidMessageId(raw)) return raw;
  return `h.${createHash('sha256').update(raw).digest('base64url').slice(0, 40)}`;
}

function checkMessage(channel: unknown, event: unknown, data: unknown): void {
  const problem = checkChannelName(channel, { broadcast: true }) ?? checkEventName(event);
  if (problem !== undefined) throw new UnisocketError(ErrorCode.BAD_REQUEST, problem);
  if (data === undefined) return;
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (error) {
    throw new UnisocketError(ErrorCode.BAD_REQUEST, `"data" must be JSON: ${(error as Error).message}`);
  }
  if (text === undefined)
    throw new UnisocketError(ErrorCode.BAD_REQUEST, '"data" must be JSON (got a function or symbol)');
}
