import type { ChannelName, StreamMessage } from '@unisocket/core';
import type { Batch, Consumer, Kafka } from 'kafkajs';
import { CONSUMER_RESILIENCE } from './connection';
import { fetchedOffset, isVolatile, messageOf } from './records';

/** Bounds of recovery by reading back from Kafka. */
export interface ReadBackOptions {
  /**
   * The most records of the partition one read-back may scan (all channels of the partition count); a position
   * further back is answered `recovered: false` at once.
   * @default 10_000
   */
  maxRecords?: number;
  /**
   * How long one read-back may take, in ms; past it the subscriber gets `recovered: false`.
   * @default 5_000
   */
  timeoutMs?: number;
}

/** What `readBack: true` means: read at most 10,000 records back from Kafka, within 5 s. */
export const DEFAULT_READ_BACK_OPTIONS: Required<ReadBackOptions> = { maxRecords: 10_000, timeoutMs: 5_000 };

interface Request {
  channel: ChannelName;
  /** First Kafka offset wanted. */
  from: number;
  /** Kafka offset after the last one wanted. */
  to: number;
  epoch: string;
  messages: StreamMessage[];
  ids: Set<string>;
  /** A record in [from, to) is gone (retention): the answer cannot be complete. */
  lost: boolean;
  resolve: (answer: { messages: StreamMessage[]; complete: boolean }) => void;
}

interface Scan {
  partition: number;
  /** The next Kafka offset expected. */
  position: number;
  to: number;
  requests: Request[];
  timer: NodeJS.Timeout;
}

/**
 * Reads channels back from Kafka for recovery: one long-lived consumer (its own group, every partition assigned,
 * all paused) that, for a read, seeks the channel's partition to the wanted offset, resumes it, collects the
 * channel's records up to where the node's live consumer is, and pauses it again. Reads of one partition that arrive
 * together share one scan; each scan is bounded in records and time.
 */
export class ReadBack {
  readonly stats = { scans: 0, scanned: 0, timeouts: 0, refused: 0 };
  readonly #kafka: Kafka;
  readonly #topic: string;
  readonly #groupId: string;
  readonly #options: Required<ReadBackOptions>;
  readonly #epochOf: (partition: number) => string;
  readonly #onError: (error: unknown) => void;
  readonly #scans = new Map<number, Scan>();
  readonly #waiting = new Map<number, Request[]>();
  #consumer: Consumer | undefined;
  #assigned: number[] = [];
  #joined: Promise<void> | undefined;
  #closed = false;

  constructor(
    kafka: Kafka,
    topic: string,
    groupId: string,
    options: Required<ReadBackOptions>,
    epochOf: (partition: number) => string,
    onError: (error: unknown) => void,
  ) {
    this.#kafka = kafka;
    this.#topic = topic;
    this.#groupId = groupId;
    this.#options = options;
    this.#epochOf = epochOf;
    this.#onError = onError;
  }

  /** Connects the reader and joins its group. Resolves once it can read (or rejects after `timeoutMs`). */
  async start(timeoutMs: number): Promise<void> {
    const topic = this.#topic;
    const consumer = this.#kafka.consumer({
      groupId: this.#groupId,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
      ...CONSUMER_RESILIENCE,
    });
    this.#consumer = consumer;
    let joined!: () => void;
    this.#joined = new Promise<void>((resolve) => (joined = resolve));
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.#assigned = event.payload.memberAssignment[topic] ?? [];
      const idle = this.#assigned.filter((p) => !this.#scans.has(p));
      if (idle.length > 0) consumer.pause([{ topic, partitions: idle }]);
      for (const scan of this.#scans.values()) {
        consumer.seek({ topic, partition: scan.partition, offset: String(scan.position) });
        consumer.resume([{ topic, partitions: [scan.partition] }]);
      }
      joined();
    });
    consumer.on(consumer.events.CRASH, (event) => this.#onError(event.payload.error));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => this.#onBatch(batch),
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#joined,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the read-back consumer did not join its group within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** The records of `channel` with Kafka offsets in `[from, to)` of `partition`. */
  read(
    channel: ChannelName,
    partition: number,
    from: number,
    to: number,
  ): Promise<{ messages: StreamMessage[]; complete: boolean }> {
    if (to <= from) return Promise.resolve({ messages: [], complete: true });
    if (this.#closed || to - from > this.#options.maxRecords) {
      this.stats.refused++;
      return Promise.resolve({ messages: [], complete: false });
    }
    return new Promise((resolve) => {
      const request: Request = {
        channel,
        from,
        to,
        epoch: this.#epochOf(partition),
        messages: [],
        ids: new Set(),
        lost: false,
        resolve,
      };
      let waiting = this.#waiting.get(partition);
      if (waiting === undefined) this.#waiting.set(partition, (waiting = []));
      waiting.push(request);
      if (!this.#scans.has(partition)) void this.#startScan(partition);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const scan of [...this.#scans.values()]) this.#finish(scan, false);
    for (const requests of this.#waiting.values())
      for (const r of requests) r.resolve({ messages: [], complete: false });
    this.#waiting.clear();
    await this.#consumer?.disconnect().catch(() => undefined);
  }

  async #startScan(partition: number): Promise<void> {
    const waiting = this.#waiting.get(partition);
    if (waiting === undefined || waiting.length === 0 || this.#scans.has(partition)) return;
    // take the requests that fit one bounded scan, oldest position first; the rest wait for the next one
    waiting.sort((a, b) => a.from - b.from);
    const from = waiting[0]!.from;
    let to = from;
    let n = 0;
    while (n < waiting.length && Math.max(to, waiting[n]!.to) - from <= this.#options.maxRecords) {
      to = Math.max(to, waiting[n]!.to);
      n++;
    }
    const requests = waiting.splice(0, n);
    const scan: Scan = {
      partition,
      position: from,
      to,
      requests,
      timer: setTimeout(() => {
        this.stats.timeouts++;
        this.#finish(scan, false);
      }, this.#options.timeoutMs),
    };
    this.#scans.set(partition, scan);
    this.stats.scans++;
    try {
      await this.#joined;
    } catch {
      // start() failed: the timer answers the requests
    }
    const consumer = this.#consumer;
    if (consumer === undefined || this.#scans.get(partition) !== scan) return;
    try {
      consumer.seek({ topic: this.#topic, partition, offset: String(from) });
      consumer.resume([{ topic: this.#topic, partitions: [partition] }]);
    } catch (error) {
      this.#onError(error);
      this.#finish(scan, false);
    }
  }

  #onBatch(batch: Batch): void {
    const scan = this.#scans.get(batch.partition);
    if (scan === undefined) return;
    const fetched = fetchedOffset(batch);
    if (fetched < scan.position) return; // fetched before the seek
    if (fetched > scan.position) {
      // Kafka no longer has the records from `position` (retention): reads that needed them are incomplete
      for (const r of scan.requests) if (r.from < fetched) r.lost = true;
      scan.position = fetched;
    }
    for (const record of batch.messages) {
      const k = Number(record.offset);
      if (k < scan.position) continue;
      if (k >= scan.to) break;
      scan.position = k + 1;
      this.stats.scanned++;
      if (isVolatile(record) || record.key === null) continue;
      const key = record.key.toString();
      for (const r of scan.requests) {
        if (r.channel !== key || k < r.from || k >= r.to) continue;
        const message = messageOf(record, r.epoch, k + 1);
        // a repeated idempotency key was dropped live: drop it here too
        if (message !== undefined && !r.ids.has(message.id)) {
          r.ids.add(message.id);
          r.messages.push(message);
        }
      }
    }
    const last = Number(batch.lastOffset()) + 1;
    if (last > scan.position) scan.position = Math.min(last, scan.to);
    if (scan.position >= scan.to) this.#finish(scan, true);
  }

  #finish(scan: Scan, done: boolean): void {
    if (this.#scans.get(scan.partition) !== scan) return;
    this.#scans.delete(scan.partition);
    clearTimeout(scan.timer);
    try {
      this.#consumer?.pause([{ topic: this.#topic, partitions: [scan.partition] }]);
    } catch {
      // not running (closed): nothing to pause
    }
    for (const r of scan.requests) {
      const complete = done && !r.lost && this.#epochOf(scan.partition) === r.epoch;
      r.resolve({ messages: r.messages, complete });
    }
    if (!this.#closed) void this.#startScan(scan.partition);
  }
}
