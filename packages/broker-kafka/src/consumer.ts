import { type ChannelName, IdWindow, type StreamMessage } from '@unisocket/core';
import type { Batch, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { CONSUMER_RESILIENCE, describeError, kafkaErrorType } from './connection';
import type { KafkaHistory } from './history';
import type { Liveness } from './liveness';
import type { KafkaPublisher } from './publisher';
import { fetchedOffset, isIdempotent, isVolatile, messageOf } from './records';
import type { Topology } from './topology';

/** What {@link NodeConsumer} needs of its broker: where consumed messages go, and how problems are reported. */
export interface ConsumerHost {
  /** Hands a consumed message to the broker (its `receive`: ordering, then delivery to local subscribers). */
  receive(message: StreamMessage): void;
  /** Hands a consumed unsequenced line to the broker (its `receiveVolatile`). */
  receiveVolatile(channel: ChannelName, line: string): void;
  /** Re-checks the positions of the subscribed channels that `filter` selects (the broker's `recheck`). */
  recheck(filter: (channel: ChannelName) => boolean): void;
  /** Counts a record dropped because its message id was consumed before (`stats.duplicates`). */
  duplicate(): void;
  /** Reports a problem (an `error` event; throttled per `throttle` kind when given). */
  report(error: unknown, throttle?: string): void;
  /** `true` once the broker is closing. */
  closing(): boolean;
}

/** The parts of the broker {@link NodeConsumer} works with. */
export interface ConsumerParts {
  readonly kafka: Kafka;
  readonly topic: string;
  /** The first consumer group; a replacement consumer's is `<groupId>.r<n>`. */
  readonly groupId: string;
  readonly history: KafkaHistory;
  readonly liveness: Liveness;
  readonly topology: Topology;
  readonly publisher: KafkaPublisher;
  /** The Kafka-side counters the consumer keeps (`broker.kafkaStats`). */
  readonly stats: { records: number; foreignRecords: number; skips: number; consumerCrashes: number };
  readonly fetchMaxWaitMs: number;
  readonly startTimeoutMs: number;
  /** How many recently consumed message ids are remembered to drop a record consumed twice. */
  readonly deliveredIdsWindow: number;
}

/**
 * This node's consumer of every partition of the messages topic, in a consumer group of its own. It never commits:
 * on every group join it seeks each partition to this node's position, so a rebalance or a restart neither skips nor
 * repeats a record. It turns records into messages (`value + offset + "}"`), drops an id consumed before, feeds the
 * window and hands each message to the broker. A consumer kafkajs gives up on is replaced by one in a fresh group.
 */
export class NodeConsumer {
  readonly #host: ConsumerHost;
  readonly #parts: ConsumerParts;
  readonly #consumed: IdWindow;
  #consumer: Consumer | undefined;
  #joinedOnce = false;
  #incarnation = 0;
  #gate: Promise<void> | undefined;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(host: ConsumerHost, parts: ConsumerParts) {
    this.#host = host;
    this.#parts = parts;
    this.#consumed = new IdWindow(parts.deliveredIdsWindow);
  }

  /** The consumer group in use now: the first one, or the group of the latest replacement (`….r1`, `….r2`, …). */
  get groupId(): string {
    return this.#incarnation === 0 ? this.#parts.groupId : `${this.#parts.groupId}.r${this.#incarnation}`;
  }

  /** Starts a consumer in {@link groupId}; resolves once it joined its group (rejects after `timeoutMs`). */
  async start(timeoutMs: number): Promise<void> {
    const { kafka, topic, history, liveness } = this.#parts;
    const consumer = kafka.consumer({
      groupId: this.groupId,
      maxWaitTimeInMs: this.#parts.fetchMaxWaitMs,
      allowAutoTopicCreation: false,
      ...CONSUMER_RESILIENCE,
      // this part replaces a consumer kafkajs gives up on (see #onCrash), in a fresh group
      retry: { ...CONSUMER_RESILIENCE.retry, restartOnFailure: async () => false },
    });
    this.#consumer = consumer;
    let joined!: () => void;
    const firstJoin = new Promise<void>((resolve) => (joined = resolve));
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      if (this.#consumer !== consumer) return;
      // this node's position is authoritative: never a committed or a reset offset
      for (const p of event.payload.memberAssignment[topic] ?? []) {
        const part = history.partition(p);
        if (part !== undefined) consumer.seek({ topic, partition: p, offset: String(part.next) });
      }
      liveness.consumerProblem = undefined;
      joined();
      if (!this.#joinedOnce) {
        this.#joinedOnce = true;
        return;
      }
      // a rejoin (after a crash or a rebalance): the topic may have been recreated or grown; check before consuming
      const gate = this.#parts.topology.check('rejoin');
      this.#gate = gate;
      void gate.finally(() => {
        if (this.#gate === gate) this.#gate = undefined;
      });
    });
    consumer.on(consumer.events.REQUEST, () => {
      if (this.#consumer === consumer) liveness.heard();
    });
    consumer.on(consumer.events.CRASH, (event) => {
      if (this.#consumer === consumer) this.#onCrash(event.payload.error, event.payload.restart);
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
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

  /** Moves the running consumer of `partition` to `offset` (a Kafka offset); throws when it is not running. */
  seek(partition: number, offset: number): void {
    this.#consumer?.seek({ topic: this.#parts.topic, partition, offset: String(offset) });
  }

  /** Cancels a pending replacement of a stopped consumer (on close). */
  cancelRestart(): void {
    clearTimeout(this.#restartTimer);
  }

  /** Leaves the group and disconnects (`undefined` when no consumer was started). */
  disconnect(): Promise<void> | undefined {
    return this.#consumer?.disconnect();
  }

  readonly #onBatch = async ({ batch, isStale }: EachBatchPayload): Promise<void> => {
    if (this.#gate !== undefined) await this.#gate;
    // a seek (topic recreated) replaced what this fetch read
    if (isStale()) return;
    this.#consumeBatch(batch);
  };

  #consumeBatch(batch: Batch): void {
    const { history, stats } = this.#parts;
    const p = batch.partition;
    const part = history.partition(p);
    if (part === undefined) return; // a partition added since the last topology check: read once it is known
    const fetched = fetchedOffset(batch);
    if (fetched > part.next) {
      // the consumer was moved past records it never read (they were deleted by retention meanwhile): subscribers
      // of this partition's channels are told they missed messages, never served across the hole
      stats.skips++;
      history.skipped(p, fetched);
      this.#host.recheck((channel) => history.partitionOf(channel) === p);
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
    this.#parts.stats.records++;
    if (isVolatile(record)) {
      if (record.key !== null && record.value !== null)
        this.#host.receiveVolatile(record.key.toString(), record.value.toString());
      return;
    }
    const message = messageOf(record, epoch, offset);
    if (message === undefined) {
      this.#parts.stats.foreignRecords++;
      return;
    }
    // one id is delivered and kept once, whichever node or attempt wrote it again
    if (!this.#consumed.add(message.id)) {
      this.#host.duplicate();
      return;
    }
    // a later publish of this key on this node answers with the original, even when another node published it
    if (isIdempotent(record)) this.#parts.publisher.consumedKey(message.id, { epoch, offset });
    this.#parts.history.record(message, partition);
    this.#host.receive(message);
  }

  #onCrash(error: Error, restart: boolean): void {
    this.#parts.stats.consumerCrashes++;
    if (kafkaErrorType(error) === 'UNKNOWN_TOPIC_OR_PARTITION') this.#parts.topology.vanished();
    this.#parts.liveness.consumerProblem = `the Kafka consumer stopped: ${describeError(error)}`;
    this.#parts.liveness.check();
    this.#host.report(error, 'consumer');
    if (restart || this.#host.closing()) return;
    // kafkajs gives up on errors it does not retry: start a new consumer after a pause
    this.#restartTimer = setTimeout(() => {
      const old = this.#consumer;
      this.#consumer = undefined;
      void (async () => {
        await old?.disconnect().catch(() => undefined);
        if (this.#host.closing()) return;
        this.#incarnation++;
        try {
          await this.#parts.topology.check('restart');
          await this.start(this.#parts.startTimeoutMs);
        } catch (e) {
          this.#onCrash(e instanceof Error ? e : new Error(String(e)), false);
        }
      })();
    }, 1_000);
    this.#restartTimer.unref();
  }
}
