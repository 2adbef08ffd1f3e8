import { type BrokerOptions, type HistoryOptions, renamedOption } from '@unisocket/core';
import type { KafkaConnectionOptions } from './connection';
import { DEFAULT_READ_BACK_OPTIONS, type ReadBackOptions } from './read-back';

/** Options of {@link KafkaBroker}: the shared broker options, the Kafka connection, and how the topic is used. */
export interface KafkaBrokerOptions extends BrokerOptions, KafkaConnectionOptions {
  /**
   * The topic every node publishes to and reads, partitioned by channel (maps `KAFKA_TOPIC`).
   * @default 'unisocket.messages'
   */
  topic?: string;
  /**
   * Partitions when the broker creates the topic (an existing topic keeps its own). More partitions spread the
   * load; a channel always stays in one partition (its order).
   * @default 6
   */
  partitions?: number;
  /**
   * Replication factor when the broker creates the topic; `-1` uses the Kafka broker's `default.replication.factor`.
   * @default -1
   */
  replicationFactor?: number;
  /**
   * Create the topic when it is missing (with `waitForLeaders`). Set `false` when topics are provisioned.
   * @default true
   */
  createTopic?: boolean;
  /**
   * Prefix of each node's consumer group: `<prefix>.<nodeId>.<random>` — one group per process, so every node reads
   * every partition.
   * @default 'unisocket.node'
   */
  groupIdPrefix?: string;
  /**
   * This node's window of recent messages (of every channel it consumes), for recovery.
   * @default { size: 100, ttlMs: 300_000, maxChannels: 10_000 }
   */
  history?: HistoryOptions;
  /**
   * Recover positions the window no longer covers by reading the channel's partition back from Kafka (bounded).
   * `true` uses the default bounds.
   * @default false
   */
  readBack?: boolean | ReadBackOptions;
  /**
   * How many publish idempotency keys (publisher-given ids) this node remembers with their result. A count.
   * @default 10_000
   */
  idempotencyCacheSize?: number;
  /**
   * How long a publish idempotency key is remembered, in ms.
   * @default 60_000
   */
  idempotencyWindowMs?: number;
  /** @deprecated Use {@link idempotencyCacheSize} (a one-time `DeprecationWarning`). */
  dedupeCacheSize?: number;
  /** @deprecated Use {@link idempotencyWindowMs} (a one-time `DeprecationWarning`). */
  dedupeWindowMs?: number;
  /**
   * Records in one produce request.
   * @default 500
   */
  maxBatchMessages?: number;
  /**
   * Bytes in one produce request (keep it under the topic's `max.message.bytes`).
   * @default 524_288
   */
  maxBatchBytes?: number;
  /**
   * How long Kafka may leave a produce unconfirmed, or the consumer without an answer, before the broker reports
   * `degraded` (publishes then queue, bounded by `maxPendingPublishes`), in ms. This is the bound for a Kafka that
   * stops answering without closing its connections (host down, network cut); a Kafka that refuses connections
   * (crashed, stopped, restarting) is reported within about a second by a liveness check.
   * @default 5_000
   */
  unavailableAfterMs?: number;
  /**
   * The longest a fetch waits for new records (kafkajs `maxWaitTimeInMs`); also how often an idle consumer proves
   * Kafka answers.
   * @default 250
   */
  fetchMaxWaitMs?: number;
  /**
   * How long `start()` may take (topic, epoch markers, group join) before it fails, in ms; Kafka errors it calls
   * retriable (a coordinator still loading, a broker still starting) are retried within it.
   * @default 30_000
   */
  startTimeoutMs?: number;
  /**
   * On close, how long publishes already accepted may take to reach Kafka before they are refused, in ms.
   * @default 5_000
   */
  closeTimeoutMs?: number;
  /**
   * How often the topic's partitions and epoch markers are checked (a deleted and recreated topic, added partitions),
   * in ms.
   * @default 60_000
   */
  topologyCheckMs?: number;
}

/** Defaults of {@link KafkaBrokerOptions} (connection and base options aside). */
export const DEFAULT_KAFKA_BROKER_OPTIONS = {
  topic: 'unisocket.messages',
  partitions: 6,
  replicationFactor: -1,
  createTopic: true,
  groupIdPrefix: 'unisocket.node',
  readBack: false as boolean | ReadBackOptions,
  idempotencyCacheSize: 10_000,
  idempotencyWindowMs: 60_000,
  maxBatchMessages: 500,
  maxBatchBytes: 524_288,
  unavailableAfterMs: 5_000,
  fetchMaxWaitMs: 250,
  startTimeoutMs: 30_000,
  closeTimeoutMs: 5_000,
  topologyCheckMs: 60_000,
};

const KNOWN_OPTIONS = new Set([
  // BrokerOptions
  'nodeId',
  'deliveredIdsWindow',
  'dedupeWindow', // deprecated name of deliveredIdsWindow
  'maxPendingPublishes',
  'pendingPublishTimeoutMs',
  'gapTimeoutMs',
  'maxHeldMessages',
  // KafkaConnectionOptions
  'brokers',
  'clientId',
  'ssl',
  'sasl',
  'connectionTimeoutMs',
  'requestTimeoutMs',
  'logLevel',
  'kafka',
  // KafkaBrokerOptions
  'history',
  ...Object.keys(DEFAULT_KAFKA_BROKER_OPTIONS),
  // deprecated names of idempotencyCacheSize and idempotencyWindowMs
  'dedupeCacheSize',
  'dedupeWindowMs',
]);

/** The Kafka-specific options of a {@link KafkaBroker}, resolved over {@link DEFAULT_KAFKA_BROKER_OPTIONS}. */
export type KafkaBrokerSettings = typeof DEFAULT_KAFKA_BROKER_OPTIONS;

/**
 * Checks a {@link KafkaBroker}'s options and resolves its Kafka-specific ones: unknown options, bad values and the
 * deprecated names given with different values than their new ones throw a `TypeError` that says what to change.
 * Returns the settings and the read-back bounds (`undefined` when read-back is off).
 */
export function resolveKafkaBrokerOptions(options: KafkaBrokerOptions): {
  settings: KafkaBrokerSettings;
  readBack: Required<ReadBackOptions> | undefined;
} {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new TypeError(`unknown KafkaBroker option "${key}"; known options: ${[...KNOWN_OPTIONS].join(', ')}`);
    }
  }
  const given: KafkaBrokerOptions = { ...options };
  const cacheSize = renamedOption(options, 'dedupeCacheSize', 'idempotencyCacheSize', 'KafkaBroker');
  if (cacheSize !== undefined) given.idempotencyCacheSize = cacheSize as number;
  const windowMs = renamedOption(options, 'dedupeWindowMs', 'idempotencyWindowMs', 'KafkaBroker');
  if (windowMs !== undefined) given.idempotencyWindowMs = windowMs as number;
  const settings = { ...DEFAULT_KAFKA_BROKER_OPTIONS };
  for (const key of Object.keys(DEFAULT_KAFKA_BROKER_OPTIONS) as (keyof typeof DEFAULT_KAFKA_BROKER_OPTIONS)[]) {
    const value = given[key];
    if (value !== undefined) (settings as Record<string, unknown>)[key] = value;
  }
  const validated = validate(settings);
  const readBack =
    settings.readBack === false ? undefined : resolveReadBack(settings.readBack === true ? {} : settings.readBack);
  return { settings: validated, readBack };
}

function resolveReadBack(options: ReadBackOptions): Required<ReadBackOptions> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('readBack must be true, false or { maxRecords, timeoutMs }');
  }
  const resolved = { ...DEFAULT_READ_BACK_OPTIONS };
  for (const key of Object.keys(options) as (keyof ReadBackOptions)[]) {
    if (!(key in DEFAULT_READ_BACK_OPTIONS)) {
      throw new TypeError(`unknown readBack option "${key}"; known options: maxRecords, timeoutMs`);
    }
    const value = options[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < 1)
      throw new TypeError(`readBack.${key} must be a positive integer, got ${String(value)}`);
    resolved[key] = value;
  }
  return resolved;
}

function validate(settings: KafkaBrokerSettings): KafkaBrokerSettings {
  if (typeof settings.topic !== 'string' || !/^[A-Za-z0-9._-]{1,249}$/.test(settings.topic)) {
    throw new TypeError(
      `topic must be a Kafka topic name (1-249 characters of [A-Za-z0-9._-]), got ${JSON.stringify(settings.topic)}`,
    );
  }
  if (typeof settings.groupIdPrefix !== 'string' || settings.groupIdPrefix.length === 0) {
    throw new TypeError('groupIdPrefix must be a non-empty string');
  }
  if (typeof settings.createTopic !== 'boolean') throw new TypeError('createTopic must be a boolean');
  if (
    !Number.isInteger(settings.replicationFactor) ||
    (settings.replicationFactor < 1 && settings.replicationFactor !== -1)
  ) {
    throw new TypeError(
      `replicationFactor must be a positive integer or -1 (the Kafka broker's default), got ${String(settings.replicationFactor)}`,
    );
  }
  const positive = [
    'partitions',
    'idempotencyCacheSize',
    'idempotencyWindowMs',
    'maxBatchMessages',
    'maxBatchBytes',
    'unavailableAfterMs',
    'fetchMaxWaitMs',
    'startTimeoutMs',
    'closeTimeoutMs',
    'topologyCheckMs',
  ] as const;
  for (const key of positive) {
    const value = settings[key];
    if (!Number.isInteger(value) || value < 1)
      throw new TypeError(`${key} must be a positive integer, got ${String(value)}`);
  }
  if (settings.closeTimeoutMs < 1) throw new TypeError('closeTimeoutMs must be positive');
  return settings;
}
