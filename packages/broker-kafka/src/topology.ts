import type { ChannelName } from '@unisocket/core';
import type { Admin, Kafka } from 'kafkajs';
import { kafkaErrorType, retrying } from './connection';
import { EpochStore } from './epochs';
import type { KafkaHistory } from './history';
import { createTopicsAndWait } from './topics';

/** How long creating the topic may take until every partition has a leader, in ms. */
const CREATE_TOPIC_TIMEOUT_MS = 30_000;

/** Markers are re-committed this often so Kafka's offset retention never expires them under a running cluster. */
const MARKER_REFRESH_MS = 6 * 60 * 60_000;

/** What {@link Topology} needs of its broker. */
export interface TopologyHost {
  /** Moves this node's consumer of `partition` to `offset` (a Kafka offset); throws when the consumer is not running. */
  seek(partition: number, offset: number): void;
  /** Re-checks the positions of the subscribed channels that `filter` selects (the broker's `recheck`). */
  recheck(filter: (channel: ChannelName) => boolean): void;
  /** Reports a problem (an `error` event; throttled per `throttle` kind when given). */
  report(error: unknown, throttle?: string): void;
  /** `true` once the broker is closing. */
  closing(): boolean;
}

/** The topic settings {@link Topology} uses. */
export interface TopologySettings {
  readonly createTopic: boolean;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly topologyCheckMs: number;
}

/**
 * The messages topic and its partitions' epochs: creates the topic when it is missing (and allowed), reads and writes
 * the epoch markers ({@link EpochStore}), and re-checks both on every consumer rejoin and every `topologyCheckMs`.
 * A partition whose marker changed starts a new epoch and its channels' subscribers are resynced.
 */
export class Topology {
  readonly #host: TopologyHost;
  readonly #kafka: Kafka;
  readonly #admin: Admin;
  readonly #topic: string;
  readonly #history: KafkaHistory;
  readonly #settings: TopologySettings;
  readonly #stats: { topologyChanges: number };
  readonly #epochs: EpochStore;
  #topicVanished = false;
  #checking: Promise<void> | undefined;
  #topologyTimer: NodeJS.Timeout | undefined;
  #markerTimer: NodeJS.Timeout | undefined;

  constructor(
    host: TopologyHost,
    kafka: Kafka,
    admin: Admin,
    topic: string,
    history: KafkaHistory,
    settings: TopologySettings,
    stats: { topologyChanges: number },
  ) {
    this.#host = host;
    this.#kafka = kafka;
    this.#admin = admin;
    this.#topic = topic;
    this.#history = history;
    this.#settings = settings;
    this.#stats = stats;
    this.#epochs = new EpochStore(kafka, admin, topic);
  }

  /**
   * At start: makes sure the topic exists, writes the missing epoch markers and sets every partition's epoch and
   * position (its end: this node delivers what is published from now on). Retries what Kafka calls retriable until
   * `deadline` (epoch ms).
   */
  async load(deadline: number): Promise<void> {
    const count = await retrying(() => this.#ensureTopic(), deadline);
    this.#history.setPartitionCount(count);
    const markers = await this.#epochs.ensure(count, Math.max(1_000, deadline - Date.now()));
    const offsets = await retrying(() => this.#admin.fetchTopicOffsets(this.#topic), deadline);
    for (const { partition, high } of offsets) {
      if (partition < count)
        this.#history.reset(partition, this.#epochOf(partition, markers[partition]!), Number(high));
    }
  }

  /** Starts the periodic checks: the topology every `topologyCheckMs`, the markers' refresh every 6 hours. */
  start(): void {
    this.#topologyTimer = setInterval(() => this.check('periodic'), this.#settings.topologyCheckMs);
    this.#topologyTimer.unref();
    // keeps the markers' group alive so Kafka's offset retention never drops them under a running cluster
    this.#markerTimer = setInterval(() => {
      this.#epochs.refresh(30_000).catch((error: unknown) => this.#host.report(error));
    }, MARKER_REFRESH_MS);
    this.#markerTimer.unref();
  }

  /** Stops the periodic checks. */
  stop(): void {
    for (const timer of [this.#topologyTimer, this.#markerTimer]) clearInterval(timer);
  }

  /** The topic was reported missing (the consumer stopped on it): the next check recreates and re-reads it. */
  vanished(): void {
    this.#topicVanished = true;
  }

  /**
   * Re-reads the topic's partitions and epoch markers. A partition whose marker changed starts a new epoch: from its
   * first record when the topic was recreated (its offsets restarted), from where this node was otherwise; its
   * channels' subscribers are resynced. One check at a time: a check asked for during one joins it.
   */
  check(reason: string): Promise<void> {
    this.#checking ??= this.#refresh(reason)
      .catch((error: unknown) => this.#host.report(error, 'topology'))
      .finally(() => {
        this.#checking = undefined;
      });
    return this.#checking;
  }

  async #refresh(_reason: string): Promise<void> {
    if (this.#host.closing()) return;
    let count = await this.#partitionCount();
    if (count === undefined) {
      this.#topicVanished = true;
      if (!this.#settings.createTopic) throw new Error(`topic "${this.#topic}" is gone`);
      count = await this.#ensureTopic();
    }
    const markers = await this.#epochs.ensure(count, 30_000);
    let offsets: Map<number, { low: number; high: number }> | undefined;
    const changed = new Set<number>();
    for (let p = 0; p < count; p++) {
      const epoch = this.#epochOf(p, markers[p]!);
      const part = this.#history.partition(p);
      if (part?.epoch === epoch) continue;
      offsets ??= new Map(
        (await this.#admin.fetchTopicOffsets(this.#topic)).map((o) => [
          o.partition,
          { low: Number(o.low), high: Number(o.high) },
        ]),
      );
      const range = offsets.get(p) ?? { low: 0, high: 0 };
      // recreated (offsets restarted) or added: read from its first record; markers rewritten: same log, go on
      const next = part === undefined || this.#topicVanished || range.high < part.next ? range.low : part.next;
      this.#history.reset(p, epoch, next);
      changed.add(p);
      try {
        this.#host.seek(p, next);
      } catch {
        // not running: the next join seeks from the state set above
      }
    }
    this.#topicVanished = false;
    const countChanged = count !== this.#history.partitionCount;
    if (countChanged) this.#history.setPartitionCount(count);
    if (changed.size > 0 || countChanged) {
      this.#stats.topologyChanges++;
      this.#host.recheck((channel) => countChanged || changed.has(this.#history.partitionOf(channel)));
    }
  }

  /** Creates the topic when it is missing (and allowed); returns its partition count. */
  async #ensureTopic(): Promise<number> {
    const existing = await this.#partitionCount();
    if (existing !== undefined) return existing;
    const { createTopic, partitions, replicationFactor } = this.#settings;
    if (!createTopic) {
      throw new Error(`topic "${this.#topic}" does not exist; create it, or set createTopic: true`);
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
    // on a cluster, the broker asked may not know the new topic yet: worth another try
    if (count === undefined)
      throw Object.assign(new Error(`topic "${this.#topic}" was created but has no metadata yet`), { retriable: true });
    return count;
  }

  async #createTopic(admin: Admin, partitions: number, replicationFactor: number): Promise<void> {
    const topic = {
      topic: this.#topic,
      numPartitions: partitions,
      replicationFactor,
      // channels are keys: compaction would delete all but a channel's last message
      configEntries: [{ name: 'cleanup.policy', value: 'delete' }],
    };
    await createTopicsAndWait(admin, [topic], Date.now() + CREATE_TOPIC_TIMEOUT_MS);
  }

  async #partitionCount(): Promise<number | undefined> {
    try {
      const { topics } = await this.#admin.fetchTopicMetadata({ topics: [this.#topic] });
      const count = topics[0]?.partitions.length ?? 0;
      return count > 0 ? count : undefined;
    } catch (error) {
      if (kafkaErrorType(error) === 'UNKNOWN_TOPIC_OR_PARTITION') return undefined;
      throw error;
    }
  }

  #epochOf(partition: number, marker: string): string {
    return `${this.#topic}:${partition}:${marker}`;
  }
}
