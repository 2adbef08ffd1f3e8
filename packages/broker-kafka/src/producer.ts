import { ErrorCode, UnisocketError } from '@unisocket/core';
import type { IHeaders, Message, Producer, TopicMessages } from 'kafkajs';
import { describeError } from './connection';

/** One record to produce. */
export interface OutgoingRecord {
  topic: string;
  /** The partition; unset lets kafkajs's partitioner choose from the key (the offset is then not reported). */
  partition?: number;
  key: string | null;
  value: string | Buffer;
  headers?: IHeaders;
  /** Epoch ms as a string. */
  timestamp?: string;
}

/** Where a record went: its Kafka offset when the partition was set explicitly. */
export interface ProducedRecord {
  topic: string;
  partition: number;
  /** The record's Kafka offset; `-1` when kafkajs chose the partition. */
  offset: number;
}

/** Bounds of a {@link ProduceBatcher}. */
export interface ProduceBatcherOptions {
  /** Records per produce request. */
  maxBatchMessages: number;
  /** Bytes (keys and values) per produce request. */
  maxBatchBytes: number;
  /** Records waiting behind the request in flight; more are refused with `UNAVAILABLE` at once. */
  maxQueued: number;
  /**
   * How long a record may wait for Kafka's confirmation — queued behind the request in flight, or in it — before its
   * promise is rejected with `UNAVAILABLE`, in ms (unless {@link ProduceBatcher.send} is given an earlier deadline).
   */
  queueTimeoutMs: number;
  /** Pause between two attempts of a request that Kafka did not confirm, in ms. */
  resendDelayMs: number;
  /** What the records are (in error messages). */
  what: string;
  /** A request failed for good (not a connectivity problem): its records were refused. */
  onError?: (error: Error) => void;
}

interface Item {
  record: OutgoingRecord;
  bytes: number;
  /** Epoch ms after which the caller is answered `UNAVAILABLE` if Kafka has not confirmed the record. */
  deadline: number;
  /** The caller has its answer (the record may still be in the request in flight). */
  settled: boolean;
  resolve: (produced: ProducedRecord) => void;
  reject: (error: unknown) => void;
}

/** How often deadlines are checked, at most and at least (a fraction of the timeout in between), in ms. */
const MAX_EXPIRY_TICK_MS = 250;
const MIN_EXPIRY_TICK_MS = 25;

/**
 * Turns many small sends into few produce requests, with exactly one request in flight and a bounded queue behind
 * it — so kafkajs itself never holds an unbounded queue. What one event-loop turn sends goes out as one request.
 *
 * A request Kafka does not confirm (broker down, leader moving) is sent again, unchanged, until it is confirmed: with
 * the idempotent producer, kafkajs gives a re-sent batch the same sequence numbers, so Kafka writes it once however
 * many attempts reached it. Nothing else is sent meanwhile (a different batch with those sequence numbers would be
 * taken for a duplicate).
 *
 * Every record's caller is answered by its deadline (`queueTimeoutMs` after `send`, or the one given), whatever
 * Kafka does: a record still queued is refused as not sent; a record in the unconfirmed request is refused as
 * unconfirmed — the request keeps being re-sent, so it may still be written (once) when Kafka returns. The batcher
 * checks deadlines by itself (a timer runs while anything waits).
 */
export class ProduceBatcher {
  /**
   * `records` confirmed by Kafka; `requests` sent (attempts); `resends` of an unconfirmed request; `refused` before
   * they were sent (queue full, deadline, closed); `unconfirmed`: answered `UNAVAILABLE` at their deadline while in
   * an unconfirmed request (they may still be written); `failed`: refused by Kafka for good.
   */
  readonly stats = { records: 0, requests: 0, resends: 0, refused: 0, unconfirmed: 0, failed: 0 };
  readonly #producer: Producer;
  readonly #options: ProduceBatcherOptions;
  #queue: Item[] = [];
  #head = 0;
  #inFlight: Item[] | undefined;
  #inFlightSince = 0;
  #attemptFailed = false;
  /** Why the last attempt of the request in flight failed (what Kafka answered, or that it did not). */
  #lastFailure = '';
  #scheduled = false;
  #closed = false;
  #resendTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #drained: (() => void) | undefined;

  constructor(producer: Producer, options: ProduceBatcherOptions) {
    this.#producer = producer;
    this.#options = options;
  }

  /** Records waiting behind the request in flight. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** How long the request in flight has been waiting for Kafka, in ms (0 when none). */
  inFlightAge(now = Date.now()): number {
    return this.#inFlight === undefined ? 0 : now - this.#inFlightSince;
  }

  /** `true` while the request in flight has failed at least once and is being sent again. */
  get retrying(): boolean {
    return this.#inFlight !== undefined && this.#attemptFailed;
  }

  /**
   * Queues a record; resolves once Kafka has it. Rejects with `UNAVAILABLE` when the queue is full or closed, or when
   * Kafka has not confirmed it by `deadline` (epoch ms; default `queueTimeoutMs` from now).
   */
  send(record: OutgoingRecord, deadline = Date.now() + this.#options.queueTimeoutMs): Promise<ProducedRecord> {
    if (this.#closed) {
      this.stats.refused++;
      return Promise.reject(
        new UnisocketError(ErrorCode.UNAVAILABLE, `${this.#options.what}: the Kafka producer is closed`),
      );
    }
    if (this.queued >= this.#options.maxQueued) {
      this.stats.refused++;
      return Promise.reject(
        new UnisocketError(
          ErrorCode.UNAVAILABLE,
          `${this.#options.what}: ${this.queued} records already wait for Kafka (its last request is unconfirmed for ${this.inFlightAge()} ms); retry later`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const bytes = (record.key === null ? 0 : record.key.length) + Buffer.byteLength(record.value);
      this.#queue.push({ record, bytes, deadline, settled: false, resolve, reject });
      this.#schedule();
      this.#armExpiry();
    });
  }

  /**
   * Answers `UNAVAILABLE` to every record past its deadline: queued ones are dropped (never sent); those in the
   * unconfirmed request stay in it (it is re-sent unchanged) but their callers stop waiting. Runs by itself while
   * anything waits; calling it is harmless.
   */
  expire(now = Date.now()): void {
    const timeout = this.#options.queueTimeoutMs;
    for (const item of this.#inFlight ?? []) {
      if (item.settled || item.deadline > now) continue;
      item.settled = true;
      this.stats.unconfirmed++;
      item.reject(
        new UnisocketError(
          ErrorCode.UNAVAILABLE,
          `${this.#options.what}: Kafka has not confirmed it within ${timeout} ms${this.#attemptFailed ? ` (last attempt: ${this.#lastFailure}; still re-sending)` : ''}; ` +
            'it was sent and may still be written once Kafka is back — to retry, publish again with the same id (repeats are deduplicated)',
        ),
      );
    }
    if (this.queued > 0) {
      const kept: Item[] = [];
      for (let i = this.#head; i < this.#queue.length; i++) {
        const item = this.#queue[i]!;
        if (item.deadline > now) kept.push(item);
        else {
          item.settled = true;
          this.stats.refused++;
          item.reject(
            new UnisocketError(
              ErrorCode.UNAVAILABLE,
              `${this.#options.what}: Kafka did not take it within ${timeout} ms${this.#attemptFailed ? ` (the request before it is still unconfirmed: ${this.#lastFailure})` : ''}; it was not sent — retry later`,
            ),
          );
        }
      }
      if (kept.length !== this.queued) {
        this.#queue = kept;
        this.#head = 0;
      }
    }
    this.#armExpiry();
  }

  /** A timer checks deadlines while a caller waits (queued, or in the request in flight), and only then. */
  #armExpiry(): void {
    const waiting = this.queued > 0 || (this.#inFlight?.some((item) => !item.settled) ?? false);
    if (waiting && this.#expiryTimer === undefined) {
      const tick = Math.max(
        MIN_EXPIRY_TICK_MS,
        Math.min(MAX_EXPIRY_TICK_MS, Math.floor(this.#options.queueTimeoutMs / 10)),
      );
      this.#expiryTimer = setInterval(() => this.expire(), tick);
      this.#expiryTimer.unref();
    } else if (!waiting && this.#expiryTimer !== undefined) {
      clearInterval(this.#expiryTimer);
      this.#expiryTimer = undefined;
    }
  }

  /**
   * Stops accepting records, waits up to `timeoutMs` for what is queued and in flight to be confirmed, then refuses
   * the rest (a request in flight may still have reached Kafka: its records are refused as unconfirmed).
   */
  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    if (this.#inFlight !== undefined || this.queued > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.#drained = undefined;
    }
    if (this.#resendTimer !== undefined) clearTimeout(this.#resendTimer);
    clearInterval(this.#expiryTimer);
    this.#expiryTimer = undefined;
    const unconfirmed = (this.#inFlight ?? []).filter((item) => !item.settled);
    this.#inFlight = undefined;
    for (const item of unconfirmed) {
      this.stats.unconfirmed++;
      item.reject(
        new UnisocketError(
          ErrorCode.UNAVAILABLE,
          `${this.#options.what}: shut down before Kafka confirmed it (it may still have been written)`,
        ),
      );
    }
    for (let i = this.#head; i < this.#queue.length; i++) {
      this.stats.refused++;
      this.#queue[i]!.reject(
        new UnisocketError(ErrorCode.UNAVAILABLE, `${this.#options.what}: shut down before it was sent`),
      );
    }
    this.#queue = [];
    this.#head = 0;
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight !== undefined || this.queued === 0) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#inFlight !== undefined || this.queued === 0) return;
    // past their deadline while queued (the next expiry tick has not come yet): refused as not sent, never sent late
    const now = Date.now();
    if (this.#queue[this.#head]!.deadline <= now) {
      this.expire(now);
      if (this.queued === 0) return;
    }
    const batch: Item[] = [];
    let bytes = 0;
    while (this.#head < this.#queue.length && batch.length < this.#options.maxBatchMessages) {
      const item = this.#queue[this.#head]!;
      if (batch.length > 0 && bytes + item.bytes > this.#options.maxBatchBytes) break;
      batch.push(item);
      bytes += item.bytes;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#inFlight = batch;
    this.#inFlightSince = now;
    this.#attemptFailed = false;
    this.#attempt(batch, toTopicMessages(batch));
  };

  #attempt(batch: Item[], topicMessages: TopicMessages[]): void {
    this.stats.requests++;
    this.#producer.sendBatch({ topicMessages, acks: -1 }).then(
      (metadata) => {
        if (this.#inFlight !== batch) return; // refused at close meanwhile
        this.#settle(batch, metadata);
      },
      (error: unknown) => {
        if (this.#inFlight !== batch) return;
        if (isRetriable(error)) {
          // the same records, in the same order, with the same sequence numbers: written once however often sent
          this.#attemptFailed = true;
          // e.g. NOT_ENOUGH_REPLICAS (fewer in-sync replicas than min.insync.replicas) or a leader that moved
          this.#lastFailure = describeError(error);
          this.stats.resends++;
          this.#resendTimer = setTimeout(() => {
            this.#resendTimer = undefined;
            if (this.#inFlight === batch) this.#attempt(batch, topicMessages);
          }, this.#options.resendDelayMs);
          return;
        }
        const reason = new UnisocketError(
          ErrorCode.UNAVAILABLE,
          `${this.#options.what}: Kafka refused the request: ${describeError(error)}`,
          { cause: error },
        );
        for (const item of batch) {
          if (item.settled) continue;
          item.settled = true;
          this.stats.failed++;
          item.reject(reason);
        }
        this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
        this.#done();
      },
    );
  }

  #settle(batch: Item[], metadata: { topicName: string; partition: number; baseOffset?: string }[]): void {
    const next = new Map<string, number>();
    for (const m of metadata) next.set(`${m.topicName}\u0000${m.partition}`, Number(m.baseOffset ?? -1));
    this.stats.records += batch.length;
    for (const item of batch) {
      const { topic, partition } = item.record;
      if (partition === undefined) {
        item.settled = true;
        item.resolve({ topic, partition: -1, offset: -1 });
        continue;
      }
      const key = `${topic}\u0000${partition}`;
      const offset = next.get(key) ?? -1;
      // kafkajs writes a partition's records in the order given: offsets run from the batch's base offset
      if (offset >= 0) next.set(key, offset + 1);
      // a record answered `UNAVAILABLE` at its deadline was written after all: at least once, as its refusal said
      item.settled = true;
      item.resolve({ topic, partition, offset });
    }
    this.#done();
  }

  #done(): void {
    this.#inFlight = undefined;
    this.#attemptFailed = false;
    this.#armExpiry();
    if (this.#drained !== undefined && this.queued === 0) {
      this.#drained();
      return;
    }
    this.#schedule();
  }
}

function toTopicMessages(batch: Item[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  for (const { record } of batch) {
    let messages = byTopic.get(record.topic);
    if (messages === undefined) byTopic.set(record.topic, (messages = []));
    const message: Message = { key: record.key, value: record.value };
    if (record.partition !== undefined) message.partition = record.partition;
    if (record.headers !== undefined) message.headers = record.headers;
    if (record.timestamp !== undefined) message.timestamp = record.timestamp;
    messages.push(message);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/** Connectivity and leadership problems are worth another attempt; a refused record (too large, not allowed) is not. */
function isRetriable(error: unknown): boolean {
  const e = error as { name?: string; retriable?: boolean; cause?: unknown } | undefined;
  if (e === undefined || e === null) return false;
  if (e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSRequestTimeoutError') return true;
  if (e.name === 'KafkaJSNonRetriableError') return e.cause !== undefined && isRetriable(e.cause);
  return e.retriable === true;
}
