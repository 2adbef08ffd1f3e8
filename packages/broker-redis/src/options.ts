import type { BrokerOptions, HistoryOptions } from '@unisocket/core';
import type { Cluster, Redis, RedisOptions } from 'ioredis';

/** Cluster-wide presence: how nodes prove they are alive, and how fast a dead node's members leave. */
export interface RedisPresenceOptions {
  /**
   * How often this node refreshes its lease and sweeps the presence of nodes whose lease expired, in ms.
   * @default 5_000
   */
  refreshMs?: number;
  /**
   * How long a lease lives without a refresh, in ms. A node silent for this long (crashed, killed, cut off) is
   * considered dead: another node removes its presence entries and announces `leave` for users left nowhere.
   * Must be at least twice `refreshMs`.
   * @default 3 × refreshMs
   */
  leaseMs?: number;
}

/** Options of {@link RedisBroker}. */
export interface RedisBrokerOptions extends BrokerOptions {
  /**
   * The Redis server, as a `redis://` or `rediss://` URL. Ignored when `redis` is given.
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * An existing ioredis client (`Redis` or `Cluster`), or ioredis options. A client is never used directly nor
   * closed: the broker makes its own two connections from it with `duplicate()`, so your client keeps its settings.
   * @default undefined (connect to `url`)
   */
  redis?: Redis | Cluster | RedisOptions;
  /**
   * Prefix of every key and pub/sub channel, so several apps (or test runs) can share one Redis.
   * May not contain `{` or `}` (they would break the per-channel hash tags).
   * @default 'unisocket:'
   */
  keyPrefix?: string;
  /**
   * Use Redis 7 sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`): each channel's messages stay on the shard that holds
   * the channel's keys instead of being broadcast to every node of a Redis Cluster. Works on a standalone Redis 7
   * too.
   * @default false, or true when `redis` is a `Cluster`
   */
  sharded?: boolean;
  /**
   * Per-channel history in Redis Streams (`maxChannels` does not apply: idle channels expire in Redis instead).
   * @default { size: 100, ttlMs: 300_000 }
   */
  history?: Pick<HistoryOptions, 'size' | 'ttlMs'>;
  /**
   * How long an idle channel keeps its epoch and offset counter, in ms. After that long without a publish or a
   * subscribe its keys expire, and the channel starts a new epoch (subscribers learn they missed messages).
   * Must be at least `history.ttlMs`.
   * @default 86_400_000 (24 hours)
   */
  channelTtlMs?: number;
  /**
   * How long an idempotency key (a publish `id` given by the publisher) is remembered, in ms. A second publish
   * with the same id within it is acknowledged with the original offset and not published again.
   * @default 60_000
   */
  idempotencyWindowMs?: number;
  /** Cluster-wide presence leases. */
  presence?: RedisPresenceOptions;
  /**
   * How long `start()` waits for Redis before it rejects, in ms.
   * @default 10_000
   */
  connectTimeoutMs?: number;
  /**
   * How long one command may wait for its reply before it fails (a publish then fails with `UNAVAILABLE`), in ms.
   * @default 5_000
   */
  commandTimeoutMs?: number;
  /**
   * The longest pause between two reconnect attempts, in ms (the pause doubles from 50 ms up to this, with jitter).
   * @default 2_000
   */
  maxReconnectDelayMs?: number;
}

/** Defaults of {@link RedisBrokerOptions}. */
export const DEFAULT_REDIS_BROKER_OPTIONS = {
  url: 'redis://127.0.0.1:6379',
  keyPrefix: 'unisocket:',
  historySize: 100,
  historyTtlMs: 300_000,
  channelTtlMs: 86_400_000,
  idempotencyWindowMs: 60_000,
  presenceRefreshMs: 5_000,
  connectTimeoutMs: 10_000,
  commandTimeoutMs: 5_000,
  maxReconnectDelayMs: 2_000,
} as const;

/** The options after validation. @internal */
export interface ResolvedRedisOptions {
  url: string;
  redis: Redis | Cluster | RedisOptions | undefined;
  keyPrefix: string;
  sharded: boolean;
  historySize: number;
  historyTtlMs: number;
  channelTtlMs: number;
  idempotencyWindowMs: number;
  presenceRefreshMs: number;
  presenceLeaseMs: number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  maxReconnectDelayMs: number;
}

const KNOWN = new Set([
  'url',
  'redis',
  'keyPrefix',
  'sharded',
  'history',
  'channelTtlMs',
  'idempotencyWindowMs',
  'presence',
  'connectTimeoutMs',
  'commandTimeoutMs',
  'maxReconnectDelayMs',
  // BrokerOptions, validated by the base class
  'nodeId',
  'deliveredIdsWindow',
  'dedupeWindow', // deprecated name of deliveredIdsWindow
  'maxPendingPublishes',
  'pendingPublishTimeoutMs',
  'gapTimeoutMs',
  'maxHeldMessages',
]);

/** Validates options, throwing a `TypeError` that says what to change. @internal */
export function resolveRedisOptions(
  options: RedisBrokerOptions,
  isCluster: (value: unknown) => boolean,
  isClient: (value: unknown) => boolean = () => false,
): ResolvedRedisOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('RedisBroker options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) {
      throw new TypeError(`unknown RedisBroker option "${key}"; known options: ${[...KNOWN].join(', ')}`);
    }
  }
  const d = DEFAULT_REDIS_BROKER_OPTIONS;
  const url = options.url ?? d.url;
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
    throw new TypeError(`url must be a redis:// or rediss:// URL, got ${JSON.stringify(options.url)}`);
  }
  const redis = options.redis;
  if (redis !== undefined && (typeof redis !== 'object' || redis === null)) {
    throw new TypeError('redis must be an ioredis client (new Redis(...) or new Cluster(...)) or ioredis options');
  }
  // a client of another copy of ioredis fails instanceof: it would be spread as connection options into a new client
  // to 127.0.0.1:6379 (a Cluster taken for a single Redis, its failover guard off), so it is refused instead
  if (redis !== undefined && !isClient(redis) && looksLikeIoredisClient(redis)) {
    throw new TypeError(
      'redis is an ioredis client from another copy of ioredis than the one @unisocket/broker-redis uses, so it cannot be used as one: install a single ioredis version (npm ls ioredis, npm dedupe), or pass ioredis options instead of a client',
    );
  }
  if (redis !== undefined && options.url !== undefined) {
    throw new TypeError('give either url or redis, not both (put the URL in your ioredis client instead)');
  }
  const keyPrefix = options.keyPrefix ?? d.keyPrefix;
  if (typeof keyPrefix !== 'string' || keyPrefix.length > 100 || /[{}\s]/.test(keyPrefix)) {
    throw new TypeError(
      `keyPrefix must be a string of at most 100 characters without braces or spaces (e.g. "myapp:"), got ${JSON.stringify(options.keyPrefix)}`,
    );
  }
  const cluster = redis !== undefined && isCluster(redis);
  const sharded = options.sharded ?? cluster;
  if (typeof sharded !== 'boolean')
    throw new TypeError(`sharded must be true or false, got ${String(options.sharded)}`);
  const history = options.history ?? {};
  if (typeof history !== 'object' || history === null) throw new TypeError('history must be { size?, ttlMs? }');
  for (const key of Object.keys(history)) {
    if (key !== 'size' && key !== 'ttlMs') {
      throw new TypeError(`unknown history option "${key}" for the Redis broker: use size and ttlMs`);
    }
  }
  const historySize = integer('history.size', history.size ?? d.historySize, 0);
  const historyTtlMs = integer('history.ttlMs', history.ttlMs ?? d.historyTtlMs, 1);
  const channelTtlMs = integer('channelTtlMs', options.channelTtlMs ?? Math.max(d.channelTtlMs, historyTtlMs), 1);
  if (channelTtlMs < historyTtlMs) {
    throw new TypeError(
      `channelTtlMs (${channelTtlMs}) must be at least history.ttlMs (${historyTtlMs}): raise channelTtlMs`,
    );
  }
  const idempotencyWindowMs = integer('idempotencyWindowMs', options.idempotencyWindowMs ?? d.idempotencyWindowMs, 1);
  const presence = options.presence ?? {};
  if (typeof presence !== 'object' || presence === null)
    throw new TypeError('presence must be { refreshMs?, leaseMs? }');
  const presenceRefreshMs = integer('presence.refreshMs', presence.refreshMs ?? d.presenceRefreshMs, 10);
  const presenceLeaseMs = integer('presence.leaseMs', presence.leaseMs ?? presenceRefreshMs * 3, 20);
  if (presenceLeaseMs < presenceRefreshMs * 2) {
    throw new TypeError(
      `presence.leaseMs (${presenceLeaseMs}) must be at least twice presence.refreshMs (${presenceRefreshMs}), or one slow refresh makes a live node look dead`,
    );
  }
  return {
    url,
    redis,
    keyPrefix,
    sharded,
    historySize,
    historyTtlMs,
    channelTtlMs,
    idempotencyWindowMs,
    presenceRefreshMs,
    presenceLeaseMs,
    connectTimeoutMs: integer('connectTimeoutMs', options.connectTimeoutMs ?? d.connectTimeoutMs, 1),
    commandTimeoutMs: integer('commandTimeoutMs', options.commandTimeoutMs ?? d.commandTimeoutMs, 1),
    maxReconnectDelayMs: integer('maxReconnectDelayMs', options.maxReconnectDelayMs ?? d.maxReconnectDelayMs, 1),
  };
}

function integer(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new TypeError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** An ioredis `Redis` or `Cluster` instance, whichever copy of ioredis made it (both have these two members). */
function looksLikeIoredisClient(value: object): boolean {
  const v = value as { duplicate?: unknown; isCluster?: unknown };
  return typeof v.duplicate === 'function' && typeof v.isCluster === 'boolean';
}
