import { randomBytes } from 'node:crypto';
import {
  Broker,
  type BrokerOptions,
  type ChannelName,
  ErrorCode,
  type HistoryOptions,
  IdWindow,
  type MaybePromise,
  MemoryPresenceStore,
  type PublishRequest,
  type PublishResult,
  UnisocketError,
  isPromiseLike,
  renamedOption,
  resolveHistoryOptions,
} from '@unisocket/core';
import { LRUCache } from '@unisocket/memory';
import type { Admin, Batch, Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import {
  CONSUMER_RESILIENCE,
  type KafkaConnectionOptions,
  createKafkaClient,
  createProbeClient,
  describeError,
  kafkaErrorType,
  retrying,
} from './connection';
import { EpochStore } from './epochs';
import { KafkaHistory } from './history';
import { ProduceBatcher } from './producer';
import { DEFAULT_READ_BACK_OPTIONS, ReadBack, type ReadBackOptions } from './read-back';
import {
  HEADER_ID,
  HEADER_IDEMPOTENT,
  HEADER_VOLATILE,
  fetchedOffset,
  isIdempotent,
  isVolatile,
  messageOf,
} from './records';

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

/** How often one kind of repeated failure (a consumer crashing in a loop) is reported. */
const REPORT_INTERVAL_MS = 10_000;

/** Markers are re-committed this often so Kafka's offset retention never expires them under a running cluster. */
const MARKER_REFRESH_MS = 6 * 60 * 60_000;

/** The health watchdog's period at most (a quarter of `unavailableAfterMs` when that is shorter), in ms. */
const WATCHDOG_TICK_MS = 250;

/** A consumer quiet this long (at least; twice `fetchMaxWaitMs` when longer) makes the watchdog ask Kafka, in ms. */
const QUIET_BEFORE_PROBE_MS = 500;

/**
 * Nodes exchange messages over one Kafka topic, partitioned by channel: a channel's messages keep their order, and
 * its offsets are its partition's offsets + 1 (increasing, not contiguous: partitions are shared by channels), in an
 * epoch that names the partition's offset sequence (`<topic>:<partition>:<marker>`, see {@link EpochStore}).
 *
 * Every node reads every partition with a consumer group of its own and delivers the channels it has subscribers
 * for; its own publishes reach its subscribers when it consumes them, in order with everyone else's. It keeps a
 * window of recent messages of every channel for recovery and, when enabled, reads older positions back from Kafka.
 * Publishes go through an idempotent producer, batched per tick, one request in flight; when Kafka stops answering
 * the broker turns `degraded`, publishes queue (bounded) and everything resumes in order when it returns.
 */
export class KafkaBroker extends Broker {
  readonly kind = 'kafka';
  readonly history: KafkaHistory;
  /** Presence of this node only (cluster-wide presence is the Redis broker's). */
  readonly presence = new MemoryPresenceStore();
  /** The topic this broker uses. */
  readonly topic: string;
  /**
   * This node's consumer group: `<groupIdPrefix>.<nodeId>.<random>`. A consumer that kafkajs gives up on is replaced
   * by one in a fresh group (`….r1`, `….r2`, …): the group only hands every partition to this node, positions are
   * this node's own, and a fresh group does not wait for the lost member's session to expire.
   */
  readonly groupId: string;
  protected override readonly contiguousOffsets = false;
  protected override readonly convergeAfterOutage = false;
  // subscribing costs no round trip: every node reads every partition anyway
  protected override readonly batchSubscriptions = false;

  readonly #kafka: Kafka;
  readonly #settings: typeof DEFAULT_KAFKA_BROKER_OPTIONS;
  readonly #readBackOptions: Required<ReadBackOptions> | undefined;
  readonly #admin: Admin;
  /** Liveness checks only: without retries, so a refused connection fails at once (see {@link createProbeClient}). */
  readonly #probeAdmin: Admin;
  readonly #producer: Producer;
  readonly #batcher: ProduceBatcher;
  readonly #epochs: EpochStore;
  readonly #idempotency: LRUCache<string, PublishResult | Promise<PublishResult>>;
  readonly #consumed: IdWindow;
  #consumer: Consumer | undefined;
  #readBack: ReadBack | undefined;
  #joinedOnce = false;
  #incarnation = 0;
  #gate: Promise<void> | undefined;
  #lastAnswer = 0;
  #consumerProblem: string | undefined;
  #probing = false;
  /** The last liveness check failed: when it started, and why. */
  #probeFailure: { startedAt: number; message: string } | undefined;
  /** When each publish was accepted (`publish()`), so it is answered within `pendingPublishTimeoutMs` of that. */
  readonly #acceptedAt = new WeakMap<PublishRequest, number>();
  #topicVanished = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #topologyTimer: NodeJS.Timeout | undefined;
  #markerTimer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #closing = false;
  readonly #reported = new Map<string, number>();
  /** Kafka-side counters (read by monitoring). */
  readonly kafkaStats = { records: 0, foreignRecords: 0, skips: 0, consumerCrashes: 0, topologyChanges: 0 };

  constructor(options: KafkaBrokerOptions = {}) {
    super(options);
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
    this.#settings = validate(settings);
    this.#readBackOptions =
      settings.readBack === false ? undefined : resolveReadBack(settings.readBack === true ? {} : settings.readBack);
    this.topic = settings.topic;
    this.groupId = `${settings.groupIdPrefix}.${this.nodeId}.${randomBytes(3).toString('hex')}`;
    this.history = new KafkaHistory(resolveHistoryOptions(options.history ?? {}));
    this.#kafka = createKafkaClient(options, 'KafkaBroker');
    this.#admin = this.#kafka.admin();
    this.#probeAdmin = (createProbeClient(options, 'KafkaBroker') ?? this.#kafka).admin();
    this.#producer = this.#kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // bounded: an unconfirmed request is sent again, unchanged, by the batcher (same sequence numbers)
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1_000 },
    });
    this.#batcher = new ProduceBatcher(this.#producer, {
      maxBatchMessages: settings.maxBatchMessages,
      maxBatchBytes: settings.maxBatchBytes,
      maxQueued: this.options.maxPendingPublishes,
      queueTimeoutMs: this.options.pendingPublishTimeoutMs,
      resendDelayMs: 250,
      what: 'publish',
      onError: (error) => this.#report(error),
    });
    this.#epochs = new EpochStore(this.#kafka, this.#admin, this.topic);
    this.#idempotency = new LRUCache({ max: settings.idempotencyCacheSize, ttlMs: settings.idempotencyWindowMs });
    this.#consumed = new IdWindow(this.options.deliveredIdsWindow);
  }

  /** The kafkajs client (to share with a {@link KafkaBridge}). */
  get kafka(): Kafka {
    return this.#kafka;
  }

  /** Producer counters: records confirmed, requests, re-sends of unconfirmed requests, refusals. */
  get producerStats(): Readonly<ProduceBatcher['stats']> & { queued: number } {
    return { ...this.#batcher.stats, queued: this.#batcher.queued };
  }

  // ------------------------------------------------------------------------------------------------
  // lifecycle
  // ------------------------------------------------------------------------------------------------

  protected async doStart(): Promise<void> {
    const { startTimeoutMs } = this.#settings;
    const deadline = Date.now() + startTimeoutMs;
    try {
      await retrying(() => this.#admin.connect(), deadline);
      await retrying(() => this.#probeAdmin.connect(), deadline);
      const count = await retrying(() => this.#ensureTopic(), deadline);
      this.history.setPartitionCount(count);
      const markers = await this.#epochs.ensure(count, Math.max(1_000, deadline - Date.now()));
      const offsets = await retrying(() => this.#admin.fetchTopicOffsets(this.topic), deadline);
      for (const { partition, high } of offsets) {
        if (partition < count)
          this.history.reset(partition, this.#epochOf(partition, markers[partition]!), Number(high));
      }
      await retrying(() => this.#producer.connect(), deadline);
      this.history.setPartitionEnd(async (partition) => {
        const offsets = await this.#admin.fetchTopicOffsets(this.topic);
        return Number(offsets.find((o) => o.partition === partition)?.high ?? 0);
      });
      if (this.#readBackOptions !== undefined) {
        const readBack = new ReadBack(
          this.#kafka,
          this.topic,
          `${this.groupId}.read-back`,
          this.#readBackOptions,
          (p) => this.history.epochOf(p),
          (error) => this.#report(error),
        );
        this.#readBack = readBack;
        this.history.setReadBack(
          (channel, partition, after, until) => readBack.read(channel, partition, after, until),
          (error) => this.#report(error),
        );
      }
      await Promise.all([
        this.#startConsumer(Math.max(1_000, deadline - Date.now())),
        this.#readBack?.start(Math.max(1_000, deadline - Date.now())),
      ]);
    } catch (error) {
      await this.#disconnectAll();
      throw new UnisocketError(
        ErrorCode.UNAVAILABLE,
        `the Kafka broker cannot start (topic "${this.topic}"): ${describeError(error)}`,
        { cause: error },
      );
    }
    this.#lastAnswer = Date.now();
    const tick = Math.max(50, Math.min(WATCHDOG_TICK_MS, Math.floor(this.#settings.unavailableAfterMs / 4)));
    this.#watchdog = setInterval(() => {
      this.#probe();
      this.#checkHealth();
    }, tick);
    this.#watchdog.unref();
    this.#topologyTimer = setInterval(() => this.#checkTopology('periodic'), this.#settings.topologyCheckMs);
    this.#topologyTimer.unref();
    // keeps the markers' group alive so Kafka's offset retention never drops them under a running cluster
    this.#markerTimer = setInterval(() => {
      this.#epochs.refresh(30_000).catch((error: unknown) => this.#report(error));
    }, MARKER_REFRESH_MS);
    this.#markerTimer.unref();
  }

  protected async doClose(): Promise<void> {
    this.#closing = true;
    for (const timer of [this.#watchdog, this.#topologyTimer, this.#markerTimer]) clearInterval(timer);
    clearTimeout(this.#restartTimer);
    await this.#batcher.close(this.#settings.closeTimeoutMs);
    // leaving the group and closing connections is quick when Kafka answers; when it does not, do not wait forever
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#disconnectAll(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.#settings.closeTimeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  async #disconnectAll(): Promise<void> {
    await Promise.allSettled([this.#consumer?.disconnect(), this.#readBack?.close()]);
    await Promise.allSettled([this.#producer.disconnect(), this.#admin.disconnect(), this.#probeAdmin.disconnect()]);
  }

  /** Creates the topic when it is missing (and allowed); returns its partition count. */
  async #ensureTopic(): Promise<number> {
    const existing = await this.#partitionCount();
    if (existing !== undefined) return existing;
    const { createTopic, partitions, replicationFactor } = this.#settings;
    if (!createTopic) {
      throw new Error(`topic "${this.topic}" does not exist; create it, or set createTopic: true`);
    }
    // a fresh admin: kafkajs's admin keeps refreshing the metadata of topics it used, and fails while one is gone
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      await this.#createTopic(admin, partitions, replicationFactor);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const count = await this.#partitionCount();
    if (count === undefined) throw new Error(`topic "${this.topic}" was created but has no metadata yet`);
    return count;
  }

  async #createTopic(admin: Admin, partitions: number, replicationFactor: number): Promise<void> {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: this.topic,
          numPartitions: partitions,
          replicationFactor,
          // channels are keys: compaction would delete all but a channel's last message
          configEntries: [{ name: 'cleanup.policy', value: 'delete' }],
        },
      ],
    });
  }

  async #partitionCount(): Promise<number | undefined> {
    try {
      const { topics } = await this.#admin.fetchTopicMetadata({ topics: [this.topic] });
      const count = topics[0]?.partitions.length ?? 0;
      return count > 0 ? count : undefined;
    } catch (error) {
      if (kafkaErrorType(error) === 'UNKNOWN_TOPIC_OR_PARTITION') return undefined;
      throw error;
    }
  }

  #epochOf(partition: number, marker: string): string {
    return `${this.topic}:${partition}:${marker}`;
  }

  // ------------------------------------------------------------------------------------------------
  // consuming
  // ------------------------------------------------------------------------------------------------

  /** The consumer group in use now (see {@link groupId}). */
  get currentGroupId(): string {
    return this.#incarnation === 0 ? this.groupId : `${this.groupId}.r${this.#incarnation}`;
  }

  async #startConsumer(timeoutMs: number): Promise<void> {
    const consumer = this.#kafka.consumer({
      groupId: this.currentGroupId,
      maxWaitTimeInMs: this.#settings.fetchMaxWaitMs,
      allowAutoTopicCreation: false,
      ...CONSUMER_RESILIENCE,
      // this broker replaces a consumer kafkajs gives up on (see #onCrash), in a fresh group
      retry: { ...CONSUMER_RESILIENCE.retry, restartOnFailure: async () => false },
    });
    this.#consumer = consumer;
    let joined!: () => void;
    const firstJoin = new Promise<void>((resolve) => (joined = resolve));
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      if (this.#consumer !== consumer) return;
      // this node's position is authoritative: never a committed or a reset offset
      for (const p of event.payload.memberAssignment[this.topic] ?? []) {
        const part = this.history.partition(p);
        if (part !== undefined) consumer.seek({ topic: this.topic, partition: p, offset: String(part.next) });
      }
      this.#consumerProblem = undefined;
      joined();
      if (!this.#joinedOnce) {
        this.#joinedOnce = true;
        return;
      }
      // a rejoin (after a crash or a rebalance): the topic may have been recreated or grown; check before consuming
      const gate = this.#checkTopology('rejoin');
      this.#gate = gate;
      void gate.finally(() => {
        if (this.#gate === gate) this.#gate = undefined;
      });
    });
    consumer.on(consumer.events.REQUEST, () => {
      if (this.#consumer === consumer) this.#lastAnswer = Date.now();
    });
    consumer.on(consumer.events.CRASH, (event) => {
      if (this.#consumer === consumer) this.#onCrash(event.payload.error, event.payload.restart);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.#onBatch(payload),
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      firstJoin,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the consumer did not join its group within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  readonly #onBatch = async ({ batch, isStale }: EachBatchPayload): Promise<void> => {
    if (this.#gate !== undefined) await this.#gate;
    // a seek (topic recreated) replaced what this fetch read
    if (isStale()) return;
    this.#consumeBatch(batch);
  };

  #consumeBatch(batch: Batch): void {
    const p = batch.partition;
    const part = this.history.partition(p);
    if (part === undefined) return; // a partition added since the last topology check: read once it is known
    const fetched = fetchedOffset(batch);
    if (fetched > part.next) {
      // the consumer was moved past records it never read (they were deleted by retention meanwhile): subscribers
      // of this partition's channels are told they missed messages, never served across the hole
      this.kafkaStats.skips++;
      this.history.skipped(p, fetched);
      this.recheck((channel) => this.history.partitionOf(channel) === p);
    }
    const epoch = part.epoch;
    for (const record of batch.messages) {
      const k = Number(record.offset);
      if (k < part.next) continue; // read again after a rejoin: already consumed
      part.next = k + 1;
      this.#consume(record, p, epoch, k + 1);
    }
    const end = Number(batch.lastOffset()) + 1;
    if (end > part.next) part.next = end;
    const high = Number(batch.highWatermark);
    if (high > part.high) part.high = high;
  }

  #consume(record: KafkaMessage, partition: number, epoch: string, offset: number): void {
    this.kafkaStats.records++;
    if (isVolatile(record)) {
      if (record.key !== null && record.value !== null)
        this.receiveVolatile(record.key.toString(), record.value.toString());
      return;
    }
    const message = messageOf(record, epoch, offset);
    if (message === undefined) {
      this.kafkaStats.foreignRecords++;
      return;
    }
    // one id is delivered and kept once, whichever node or attempt wrote it again
    if (!this.#consumed.add(message.id)) {
      this.stats.duplicates++;
      return;
    }
    if (isIdempotent(record) && !this.#idempotency.has(message.id)) {
      // a later publish of this key on this node answers with the original, even when another node published it
      this.#idempotency.set(message.id, { epoch, offset });
    }
    this.history.record(message, partition);
    this.receive(message);
  }

  #onCrash(error: Error, restart: boolean): void {
    this.kafkaStats.consumerCrashes++;
    if (kafkaErrorType(error) === 'UNKNOWN_TOPIC_OR_PARTITION') this.#topicVanished = true;
    this.#consumerProblem = `the Kafka consumer stopped: ${describeError(error)}`;
    this.#checkHealth();
    this.#report(error, 'consumer');
    if (restart || this.#closing) return;
    // kafkajs gives up on errors it does not retry: start a new consumer after a pause
    this.#restartTimer = setTimeout(() => {
      const old = this.#consumer;
      this.#consumer = undefined;
      void (async () => {
        await old?.disconnect().catch(() => undefined);
        if (this.#closing) return;
        this.#incarnation++;
        try {
          await this.#checkTopology('restart');
          await this.#startConsumer(this.#settings.startTimeoutMs);
        } catch (e) {
          this.#onCrash(e instanceof Error ? e : new Error(String(e)), false);
        }
      })();
    }, 1_000);
    this.#restartTimer.unref();
  }

  /**
   * Re-reads the topic's partitions and epoch markers. A partition whose marker changed starts a new epoch: from its
   * first record when the topic was recreated (its offsets restarted), from where this node was otherwise; its
   * channels' subscribers are resynced.
   */
  #checkTopology(reason: string): Promise<void> {
    this.#checking ??= this.#refreshTopology(reason)
      .catch((error: unknown) => this.#report(error, 'topology'))
      .finally(() => {
        this.#checking = undefined;
      });
    return this.#checking;
  }

  async #refreshTopology(_reason: string): Promise<void> {
    if (this.#closing) return;
    let count = await this.#partitionCount();
    if (count === undefined) {
      this.#topicVanished = true;
      if (!this.#settings.createTopic) throw new Error(`topic "${this.topic}" is gone`);
      count = await this.#ensureTopic();
    }
    const markers = await this.#epochs.ensure(count, 30_000);
    let offsets: Map<number, { low: number; high: number }> | undefined;
    const changed = new Set<number>();
    for (let p = 0; p < count; p++) {
      const epoch = this.#epochOf(p, markers[p]!);
      const part = this.history.partition(p);
      if (part?.epoch === epoch) continue;
      offsets ??= new Map(
        (await this.#admin.fetchTopicOffsets(this.topic)).map((o) => [
          o.partition,
          { low: Number(o.low), high: Number(o.high) },
        ]),
      );
      const range = offsets.get(p) ?? { low: 0, high: 0 };
      // recreated (offsets restarted) or added: read from its first record; markers rewritten: same log, go on
      const next = part === undefined || this.#topicVanished || range.high < part.next ? range.low : part.next;
      this.history.reset(p, epoch, next);
      changed.add(p);
      try {
        this.#consumer?.seek({ topic: this.topic, partition: p, offset: String(next) });
      } catch {
        // not running: the next join seeks from the state set above
      }
    }
    this.#topicVanished = false;
    const countChanged = count !== this.history.partitionCount;
    if (countChanged) this.history.setPartitionCount(count);
    if (changed.size > 0 || countChanged) {
      this.kafkaStats.topologyChanges++;
      this.recheck((channel) => countChanged || changed.has(this.history.partitionOf(channel)));
    }
  }

  // ------------------------------------------------------------------------------------------------
  // health
  // ------------------------------------------------------------------------------------------------

  /**
   * Asks Kafka whether it is there (one metadata request, no retries) when the consumer has been quiet for a moment —
   * a healthy consumer hears from Kafka at least every `fetchMaxWaitMs`. A Kafka that crashed or stopped refuses the
   * connection, so this fails at once: the outage is reported within about a second instead of after
   * `unavailableAfterMs` of silence. One check at a time, at most one per watchdog tick.
   */
  #probe(): void {
    const now = Date.now();
    const quietMs = Math.max(QUIET_BEFORE_PROBE_MS, 2 * this.#settings.fetchMaxWaitMs);
    if (this.#probing || this.#closing || this.state === 'closed' || now - this.#lastAnswer < quietMs) return;
    this.#probing = true;
    this.#probeAdmin
      .describeCluster()
      .then(
        () => {
          this.#probeFailure = undefined;
        },
        (error: unknown) => {
          this.#probeFailure = { startedAt: now, message: `Kafka does not answer: ${describeError(error)}` };
        },
      )
      .finally(() => {
        this.#probing = false;
        this.#checkHealth();
      });
  }

  #checkHealth(): void {
    if (this.state === 'closed' || this.state === 'connecting') return;
    const now = Date.now();
    const limit = this.#settings.unavailableAfterMs;
    let problem = this.#consumerProblem;
    // a failed check counts until the consumer hears from Kafka again: one broker of several refusing is no outage
    const failure = this.#probeFailure;
    if (problem === undefined && failure !== undefined && this.#lastAnswer <= failure.startedAt)
      problem = failure.message;
    if (problem === undefined && now - this.#lastAnswer > limit) {
      problem = `Kafka has not answered the consumer for ${now - this.#lastAnswer} ms`;
    }
    const unconfirmed = this.#batcher.inFlightAge(now);
    if (problem === undefined && unconfirmed > limit)
      problem = `Kafka has not confirmed a publish for ${unconfirmed} ms`;
    if (problem !== undefined) {
      if (this.state === 'ready' || this.health().detail !== problem) this.setState('degraded', problem);
    } else if (this.state === 'degraded') {
      this.setState('ready');
    }
  }

  #report(error: unknown, throttle?: string): void {
    if (this.state === 'closed' || this.listenerCount('error') === 0) return;
    if (throttle !== undefined) {
      // a consumer that keeps crashing while Kafka is away reports once per interval, not once per attempt
      const now = Date.now();
      if (now - (this.#reported.get(throttle) ?? 0) < REPORT_INTERVAL_MS) return;
      this.#reported.set(throttle, now);
    }
    this.emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  // ------------------------------------------------------------------------------------------------
  // publishing
  // ------------------------------------------------------------------------------------------------

  /**
   * Notes when the publish was accepted, then publishes as every broker does: whether it waits in the base class's
   * queue (while `degraded`) or for Kafka's confirmation, it is answered within `pendingPublishTimeoutMs` of now.
   */
  override publish(request: PublishRequest): MaybePromise<PublishResult> {
    this.#acceptedAt.set(request, Date.now());
    return super.publish(request);
  }

  protected doPublish(request: PublishRequest): Promise<PublishResult> {
    const id = request.id;
    if (request.idempotent) {
      const known = this.#idempotency.get(id);
      if (known !== undefined) {
        return isPromiseLike(known) ? known.then(asDuplicate) : Promise.resolve(asDuplicate(known));
      }
    }
    const partition = this.history.partitionOf(request.channel);
    // answered by this deadline whatever Kafka does (refused as not sent, or as unconfirmed: it may still be written)
    const deadline = (this.#acceptedAt.get(request) ?? Date.now()) + this.options.pendingPublishTimeoutMs;
    const result = this.#batcher
      .send(
        {
          topic: this.topic,
          partition,
          key: request.channel,
          value: request.head,
          headers: request.idempotent ? { [HEADER_ID]: id, [HEADER_IDEMPOTENT]: '1' } : { [HEADER_ID]: id },
          timestamp: String(request.ts),
        },
        deadline,
      )
      .then((produced) => ({ epoch: this.history.epochOf(partition), offset: produced.offset + 1 }));
    if (request.idempotent) {
      this.#idempotency.set(id, result);
      result.then(
        (r) => {
          if (this.#idempotency.peek(id) === result) this.#idempotency.set(id, r);
        },
        () => {
          if (this.#idempotency.peek(id) === result) this.#idempotency.delete(id);
        },
      );
    }
    return result;
  }

  protected doPublishVolatile(channel: ChannelName, line: string): void {
    this.#batcher
      .send({
        topic: this.topic,
        partition: this.history.partitionOf(channel),
        key: channel,
        value: line,
        headers: { [HEADER_VOLATILE]: '1' },
      })
      .catch(() => {
        // unsequenced (presence) lines are best effort: refused while Kafka is away
      });
  }

  // every node reads every partition: the base class drops channels without local subscribers
  protected doSubscribe(): void {}

  protected doUnsubscribe(): void {}
}

function asDuplicate(result: PublishResult): PublishResult {
  return { epoch: result.epoch, offset: result.offset, duplicate: true };
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

function validate(settings: typeof DEFAULT_KAFKA_BROKER_OPTIONS): typeof DEFAULT_KAFKA_BROKER_OPTIONS {
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
