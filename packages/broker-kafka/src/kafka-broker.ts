import { randomBytes } from 'node:crypto';
import {
  Broker,
  type ChannelName,
  ErrorCode,
  type MaybePromise,
  MemoryPresenceStore,
  type PublishRequest,
  type PublishResult,
  UnisocketError,
  resolveHistoryOptions,
} from '@unisocket/core';
import type { Admin, Kafka } from 'kafkajs';
import { type KafkaBrokerOptions, type KafkaBrokerSettings, resolveKafkaBrokerOptions } from './broker-options';
import { createKafkaClient, createProbeClient, describeError, retrying } from './connection';
import { NodeConsumer } from './consumer';
import { KafkaHistory } from './history';
import { Liveness } from './liveness';
import type { ProduceBatcher } from './producer';
import { KafkaPublisher } from './publisher';
import type { ReadBack, ReadBackOptions } from './read-back';
import { wireRecovery } from './recovery';
import { Topology } from './topology';

/** How often one kind of repeated failure (a consumer crashing in a loop) is reported. */
const REPORT_INTERVAL_MS = 10_000;

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
 *
 * A thin backend of core's `Broker` (ordering, deduplication, pending publishes and state live there), made of parts
 * that each hold one concern: {@link Topology} (the topic and its epochs), {@link NodeConsumer} (the consumer loop),
 * {@link KafkaPublisher} (the publish path), {@link Liveness} (outage detection) and the recovery wiring
 * ({@link wireRecovery}).
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
  readonly #settings: KafkaBrokerSettings;
  readonly #readBackOptions: Required<ReadBackOptions> | undefined;
  readonly #admin: Admin;
  /** Liveness checks only: without retries, so a refused connection fails at once (see {@link createProbeClient}). */
  readonly #probeAdmin: Admin;
  readonly #publisher: KafkaPublisher;
  readonly #liveness: Liveness;
  readonly #topology: Topology;
  readonly #consumer: NodeConsumer;
  #readBack: ReadBack | undefined;
  #closing = false;
  readonly #reported = new Map<string, number>();
  /** Kafka-side counters (read by monitoring). */
  readonly kafkaStats = { records: 0, foreignRecords: 0, skips: 0, consumerCrashes: 0, topologyChanges: 0 };

  constructor(options: KafkaBrokerOptions = {}) {
    super(options);
    const { settings, readBack } = resolveKafkaBrokerOptions(options);
    this.#settings = settings;
    this.#readBackOptions = readBack;
    this.topic = settings.topic;
    this.groupId = `${settings.groupIdPrefix}.${this.nodeId}.${randomBytes(3).toString('hex')}`;
    this.history = new KafkaHistory(resolveHistoryOptions(options.history ?? {}));
    this.#kafka = createKafkaClient(options, 'KafkaBroker');
    this.#admin = this.#kafka.admin();
    this.#probeAdmin = (createProbeClient(options, 'KafkaBroker') ?? this.#kafka).admin();
    this.#publisher = new KafkaPublisher(this.#kafka, this.topic, this.history, settings, this.options, (error) =>
      this.#report(error),
    );
    const closing = () => this.#closing;
    const recheck = (filter: (channel: ChannelName) => boolean) => this.recheck(filter);
    const report = (error: unknown, throttle?: string) => this.#report(error, throttle);
    this.#liveness = new Liveness(
      {
        state: () => this.state,
        detail: () => this.health().detail,
        setState: (state, detail) => this.setState(state, detail),
        unconfirmedMs: (now) => this.#publisher.inFlightAge(now),
        closing,
      },
      this.#probeAdmin,
      settings,
    );
    this.#topology = new Topology(
      { seek: (partition, offset) => this.#consumer.seek(partition, offset), recheck, report, closing },
      this.#kafka,
      this.#admin,
      this.topic,
      this.history,
      settings,
      this.kafkaStats,
    );
    this.#consumer = new NodeConsumer(
      {
        receive: (message) => this.receive(message),
        receiveVolatile: (channel, line) => this.receiveVolatile(channel, line),
        recheck,
        duplicate: () => {
          this.stats.duplicates++;
        },
        report,
        closing,
      },
      {
        kafka: this.#kafka,
        topic: this.topic,
        groupId: this.groupId,
        history: this.history,
        liveness: this.#liveness,
        topology: this.#topology,
        publisher: this.#publisher,
        stats: this.kafkaStats,
        fetchMaxWaitMs: settings.fetchMaxWaitMs,
        startTimeoutMs: settings.startTimeoutMs,
        deliveredIdsWindow: this.options.deliveredIdsWindow,
      },
    );
  }

  /** The kafkajs client (to share with a {@link KafkaBridge}). */
  get kafka(): Kafka {
    return this.#kafka;
  }

  /** Producer counters: records confirmed, requests, re-sends of unconfirmed requests, refusals. */
  get producerStats(): Readonly<ProduceBatcher['stats']> & { queued: number } {
    return this.#publisher.stats;
  }

  /** The consumer group in use now (see {@link groupId}). */
  get currentGroupId(): string {
    return this.#consumer.groupId;
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
      await this.#topology.load(deadline);
      await retrying(() => this.#publisher.connect(), deadline);
      this.#readBack = wireRecovery(
        this.history,
        this.#kafka,
        this.#admin,
        this.topic,
        this.groupId,
        this.#readBackOptions,
        (error) => this.#report(error),
      );
      await Promise.all([
        this.#consumer.start(Math.max(1_000, deadline - Date.now())),
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
    this.#liveness.start();
    this.#topology.start();
  }

  protected async doClose(): Promise<void> {
    this.#closing = true;
    this.#liveness.stop();
    this.#topology.stop();
    this.#consumer.cancelRestart();
    await this.#publisher.close(this.#settings.closeTimeoutMs);
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
    await Promise.allSettled([this.#consumer.disconnect(), this.#readBack?.close()]);
    await Promise.allSettled([this.#publisher.disconnect(), this.#admin.disconnect(), this.#probeAdmin.disconnect()]);
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
    this.#publisher.accepted(request);
    return super.publish(request);
  }

  protected doPublish(request: PublishRequest): Promise<PublishResult> {
    return this.#publisher.publish(request);
  }

  protected doPublishVolatile(channel: ChannelName, line: string): void {
    this.#publisher.publishVolatile(channel, line);
  }

  // every node reads every partition: the base class drops channels without local subscribers
  protected doSubscribe(): void {}

  protected doUnsubscribe(): void {}
}
