import { type BackoffOptions, type BreakerOptions, isBullInstalled } from '@unisocket/queue';
import type { Connection } from '@unisocket/core';
import type { MaybePromise } from '@unisocket/core';
import type { BrokerPlan } from '../broker-factory';

/**
 * The job queues of the service: queued, delayed, prioritized and recurring broadcasts (`service.queue`) and webhook
 * deliveries. On BullMQ when a Redis is given (or the broker is Redis): jobs, delays, schedules and dead letters
 * survive a restart, and a recurring broadcast runs once per tick across all nodes. In memory otherwise: they live
 * and die with this process.
 */
export interface QueueServiceOptions {
  /**
   * The Redis the queues keep their jobs in (BullMQ; install `bullmq`): a URL, or `false` for in-memory queues even
   * with a Redis broker.
   * @default the broker's URL with `broker: { type: 'redis' }`, otherwise in memory
   */
  redis?: string | false;
  /**
   * Refuse to start without a durable (Redis) queue: a `TypeError` at creation says what to set.
   * @default false
   */
  durable?: boolean;
  /**
   * The BullMQ key prefix.
   * @default '<broker keyPrefix>bull' with a Redis broker, else 'unisocket:bull'
   */
  prefix?: string;
  /** Jobs each node runs at once, per queue. @default 8 */
  concurrency?: number;
  /** Tries of a queued broadcast in total. @default 3 */
  defaultAttempts?: number;
  /** The wait between tries. @default { type: 'exponential', delayMs: 1_000, maxDelayMs: 3_600_000 } */
  defaultBackoff?: BackoffOptions;
  /** Dead-letter entries kept per queue (the oldest are dropped beyond it). @default 10_000 */
  maxDeadLetters?: number;
  /** The breaker around the queue's Redis (fails `add` fast while Redis is away). @default { failureThreshold: 5, halfOpenAfterMs: 10_000 } */
  breaker?: BreakerOptions;
}

/**
 * Operational events on system channels: retries, breaker changes, scheduler runs, webhook deliveries and dead-letter
 * entries, each category on its own channel, for permitted clients only.
 */
export interface OperationsOptions {
  /**
   * Publish the operational events on `<prefix>error-recovery`, `<prefix>scheduler`, `<prefix>webhook` and
   * `<prefix>dlq`; `false` to publish none.
   * @default { prefix: 'sys.' }
   */
  channels?: false | { prefix?: string };
  /**
   * Who may subscribe to the operational channels (every transport; a Pusher client too). Without it nobody may: a
   * subscription is refused with `FORBIDDEN`.
   * @default undefined (nobody)
   */
  authorize?: (conn: Connection, channel: string) => MaybePromise<boolean>;
}

/** The operational channels' categories and the events each carries. */
export const OPERATION_CATEGORIES = {
  'error-recovery': ['retry-started', 'retry-completed', 'circuit-breaker-state-changed'],
  scheduler: ['schedule-executed', 'execution-completed'],
  webhook: ['webhook-delivered', 'webhook-failed'],
  dlq: ['entry-added', 'entry-resubmitted', 'entry-resolved'],
} as const satisfies Record<string, readonly string[]>;

/** A category of operational events (see {@link OPERATION_CATEGORIES}). */
export type OperationCategory = keyof typeof OPERATION_CATEGORIES;

/** @internal The queue options, validated. */
export interface ResolvedQueueOptions {
  redis: string | undefined;
  prefix: string;
  concurrency: number | undefined;
  defaultAttempts: number | undefined;
  defaultBackoff: BackoffOptions | undefined;
  maxDeadLetters: number | undefined;
  breaker: BreakerOptions | undefined;
}

/** @internal The operations options, validated. */
export interface ResolvedOperationsOptions {
  /** The channel prefix, `undefined` when the channels are off. */
  prefix: string | undefined;
  authorize: ((conn: Connection, channel: string) => MaybePromise<boolean>) | undefined;
}

const QUEUE_KEYS = [
  'redis',
  'durable',
  'prefix',
  'concurrency',
  'defaultAttempts',
  'defaultBackoff',
  'maxDeadLetters',
  'breaker',
];

/** @internal Validates `queue`, throwing a `TypeError` that says what to change. */
export function resolveQueueOptions(
  queue: QueueServiceOptions | undefined,
  broker: BrokerPlan,
  bullInstalled: () => boolean = isBullInstalled,
): ResolvedQueueOptions {
  const q = queue ?? {};
  if (typeof q !== 'object' || q === null || Array.isArray(q)) {
    throw new TypeError('queue must be an object: { redis?, durable?, prefix?, concurrency?, … }');
  }
  for (const key of Object.keys(q)) {
    if (!QUEUE_KEYS.includes(key))
      throw new TypeError(`unknown option queue.${key}; known options: ${QUEUE_KEYS.join(', ')}`);
  }
  const brokerRedis =
    broker.instance === undefined && broker.type === 'redis'
      ? ((broker.config as { url?: string } | undefined)?.url ?? 'redis://127.0.0.1:6379')
      : undefined;
  const brokerPrefix =
    broker.instance === undefined && broker.type === 'redis'
      ? ((broker.config as { keyPrefix?: string } | undefined)?.keyPrefix ?? 'unisocket:')
      : undefined;
  if (q.redis !== undefined && q.redis !== false && (typeof q.redis !== 'string' || !/^rediss?:\/\//.test(q.redis))) {
    throw new TypeError(`queue.redis must be a redis:// or rediss:// URL, or false, got ${JSON.stringify(q.redis)}`);
  }
  let redis = q.redis === false ? undefined : (q.redis ?? brokerRedis);
  if (q.durable !== undefined && typeof q.durable !== 'boolean') throw new TypeError('queue.durable must be a boolean');
  if (redis !== undefined && !bullInstalled()) {
    if (q.redis !== undefined || q.durable === true) {
      throw new TypeError(
        `queue.${q.redis === undefined ? 'durable' : 'redis'} keeps the job queues in Redis with BullMQ, which is not installed: npm install bullmq (6.7.x)`,
      );
    }
    // the Redis only comes from the broker: the queues stay in memory, which is what a service without a Redis has
    process.emitWarning(
      'the job queues (queued, delayed and recurring broadcasts, webhooks) are in memory although the broker is Redis, because bullmq is not installed: npm install bullmq to keep them in Redis (durable, one run per tick across nodes), or set queue: { redis: false } to keep them in memory without this warning',
      { code: 'UNISOCKET_QUEUE_IN_MEMORY' },
    );
    redis = undefined;
  }
  if (q.durable === true && redis === undefined) {
    throw new TypeError(
      'queue.durable needs a Redis: set queue.redis (e.g. "redis://127.0.0.1:6379") or use broker: { type: "redis" }; without one, queued broadcasts and webhooks live in memory and are lost on restart',
    );
  }
  if (q.prefix !== undefined && (typeof q.prefix !== 'string' || q.prefix.length === 0)) {
    throw new TypeError('queue.prefix must be a non-empty string');
  }
  for (const key of ['concurrency', 'defaultAttempts', 'maxDeadLetters'] as const) {
    const value = q[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new TypeError(`queue.${key} must be a positive integer, got ${String(value)}`);
    }
  }
  return {
    redis,
    prefix: q.prefix ?? (brokerPrefix === undefined ? 'unisocket:bull' : `${brokerPrefix}bull`),
    concurrency: q.concurrency,
    defaultAttempts: q.defaultAttempts,
    defaultBackoff: q.defaultBackoff,
    maxDeadLetters: q.maxDeadLetters,
    breaker: q.breaker,
  };
}

/** @internal Validates `operations`, throwing a `TypeError` that says what to change. */
export function resolveOperationsOptions(operations: OperationsOptions | undefined): ResolvedOperationsOptions {
  const o = operations ?? {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new TypeError('operations must be an object: { channels?, authorize? }');
  }
  for (const key of Object.keys(o)) {
    if (key !== 'channels' && key !== 'authorize') {
      throw new TypeError(`unknown option operations.${key}; known options: channels, authorize`);
    }
  }
  if (o.authorize !== undefined && typeof o.authorize !== 'function') {
    throw new TypeError('operations.authorize must be a function (conn, channel) => boolean');
  }
  const channels = o.channels ?? {};
  if (channels !== false && (typeof channels !== 'object' || channels === null)) {
    throw new TypeError('operations.channels must be false or { prefix? }');
  }
  let prefix: string | undefined;
  if (channels !== false) {
    prefix = channels.prefix ?? 'sys.';
    if (typeof prefix !== 'string' || !/^[A-Za-z0-9_.:=@-]{1,100}$/.test(prefix)) {
      throw new TypeError(
        `operations.channels.prefix must be 1-100 channel characters [A-Za-z0-9_.:=@-], got ${JSON.stringify(prefix)}`,
      );
    }
    if (/^(private-|presence-|user:|app:)/.test(prefix)) {
      throw new TypeError(`operations.channels.prefix must not start with private-, presence-, user: or app:`);
    }
  }
  return { prefix, authorize: o.authorize };
}
