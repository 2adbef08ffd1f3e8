import {
  type ChannelName,
  type PublishRequest,
  type PublishResult,
  type ResolvedBrokerOptions,
  isPromiseLike,
} from '@unisocket/core';
import { LRUCache } from '@unisocket/memory';
import type { Kafka, Producer } from 'kafkajs';
import type { KafkaHistory } from './history';
import { ProduceBatcher } from './producer';
import { HEADER_ID, HEADER_IDEMPOTENT, HEADER_VOLATILE } from './records';

/** The producer settings {@link KafkaPublisher} uses. */
export interface PublisherSettings {
  readonly maxBatchMessages: number;
  readonly maxBatchBytes: number;
  readonly idempotencyCacheSize: number;
  readonly idempotencyWindowMs: number;
}

/**
 * The publish path of the Kafka broker: an idempotent producer (one request in flight, unconfirmed requests re-sent
 * unchanged by a {@link ProduceBatcher}), each channel's records on its partition, and the publish idempotency keys
 * this node knows — its own publishes' and those it consumed from other nodes' records — with their result.
 */
export class KafkaPublisher {
  readonly #topic: string;
  readonly #history: KafkaHistory;
  readonly #pendingPublishTimeoutMs: number;
  readonly #producer: Producer;
  readonly #batcher: ProduceBatcher;
  readonly #idempotency: LRUCache<string, PublishResult | Promise<PublishResult>>;
  /** When each publish was accepted (`publish()`), so it is answered within `pendingPublishTimeoutMs` of that. */
  readonly #acceptedAt = new WeakMap<PublishRequest, number>();

  constructor(
    kafka: Kafka,
    topic: string,
    history: KafkaHistory,
    settings: PublisherSettings,
    brokerOptions: Pick<ResolvedBrokerOptions, 'maxPendingPublishes' | 'pendingPublishTimeoutMs'>,
    report: (error: unknown) => void,
  ) {
    this.#topic = topic;
    this.#history = history;
    this.#pendingPublishTimeoutMs = brokerOptions.pendingPublishTimeoutMs;
    this.#producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // bounded: an unconfirmed request is sent again, unchanged, by the batcher (same sequence numbers)
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1_000 },
    });
    this.#batcher = new ProduceBatcher(this.#producer, {
      maxBatchMessages: settings.maxBatchMessages,
      maxBatchBytes: settings.maxBatchBytes,
      maxQueued: brokerOptions.maxPendingPublishes,
      queueTimeoutMs: brokerOptions.pendingPublishTimeoutMs,
      resendDelayMs: 250,
      what: 'publish',
      onError: report,
    });
    this.#idempotency = new LRUCache({ max: settings.idempotencyCacheSize, ttlMs: settings.idempotencyWindowMs });
  }

  /** Producer counters: records confirmed, requests, re-sends of unconfirmed requests, refusals; and what is queued. */
  get stats(): Readonly<ProduceBatcher['stats']> & { queued: number } {
    return { ...this.#batcher.stats, queued: this.#batcher.queued };
  }

  /** How long Kafka has left the request in flight unconfirmed, in ms (0 when none is). */
  inFlightAge(now: number): number {
    return this.#batcher.inFlightAge(now);
  }

  /** Connects the producer. */
  connect(): Promise<void> {
    return this.#producer.connect();
  }

  /** Sends what is queued for up to `timeoutMs`, then refuses the rest. */
  close(timeoutMs: number): Promise<void> {
    return this.#batcher.close(timeoutMs);
  }

  /** Disconnects the producer. */
  disconnect(): Promise<void> {
    return this.#producer.disconnect();
  }

  /** Notes when a publish was accepted: it is answered within `pendingPublishTimeoutMs` of now. */
  accepted(request: PublishRequest): void {
    this.#acceptedAt.set(request, Date.now());
  }

  /**
   * Publishes one message: its record, keyed by channel, on the channel's partition; resolves with the record's
   * offset + 1 in the partition's epoch. A known idempotency key is answered with the original result, as a duplicate.
   */
  publish(request: PublishRequest): Promise<PublishResult> {
    const id = request.id;
    if (request.idempotent) {
      const known = this.#idempotency.get(id);
      if (known !== undefined) {
        return isPromiseLike(known) ? known.then(asDuplicate) : Promise.resolve(asDuplicate(known));
      }
    }
    const partition = this.#history.partitionOf(request.channel);
    // answered by this deadline whatever Kafka does (refused as not sent, or as unconfirmed: it may still be written)
    const deadline = (this.#acceptedAt.get(request) ?? Date.now()) + this.#pendingPublishTimeoutMs;
    const result = this.#batcher
      .send(
        {
          topic: this.#topic,
          partition,
          key: request.channel,
          value: request.head,
          headers: request.idempotent ? { [HEADER_ID]: id, [HEADER_IDEMPOTENT]: '1' } : { [HEADER_ID]: id },
          timestamp: String(request.ts),
        },
        deadline,
      )
      .then((produced) => ({ epoch: this.#history.epochOf(partition), offset: produced.offset + 1 }));
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

  /** Publishes an unsequenced line (presence join/leave): best effort, dropped while Kafka is away. */
  publishVolatile(channel: ChannelName, line: string): void {
    this.#batcher
      .send({
        topic: this.#topic,
        partition: this.#history.partitionOf(channel),
        key: channel,
        value: line,
        headers: { [HEADER_VOLATILE]: '1' },
      })
      .catch(() => {
        // unsequenced (presence) lines are best effort: refused while Kafka is away
      });
  }

  /**
   * Remembers an idempotency key consumed from a record (of any node) with its result, unless known already: a later
   * publish of this key on this node answers with the original.
   */
  consumedKey(id: string, result: PublishResult): void {
    if (!this.#idempotency.has(id)) this.#idempotency.set(id, result);
  }
}

function asDuplicate(result: PublishResult): PublishResult {
  return { epoch: result.epoch, offset: result.offset, duplicate: true };
}
