import {
  type ChannelName,
  type HistoryOptions,
  type HistoryRead,
  type HistoryStore,
  type MaybePromise,
  MemoryHistoryStore,
  type StreamMessage,
  type StreamPosition,
} from '@unisocket/core';
import { partitionOf } from './partitioner';

/** What this node knows of one partition of the messages topic. Offsets are wire offsets (Kafka offset + 1). */
export interface PartitionState {
  /** The partition's identity: `<topic>:<partition>:<marker>` (see {@link EpochStore}). */
  epoch: string;
  /**
   * Every record up to this wire offset has been consumed: the next Kafka offset to read. It is the position a fresh
   * subscriber of any channel of this partition starts after.
   */
  next: number;
  /** The window holds every record of this partition from this wire offset on (what this node consumed). */
  coverFrom: number;
  /** The highest `top` of a channel of this partition that the window dropped (maxChannels). */
  droppedTop: number;
  /** Records before this Kafka offset were skipped by the consumer (deleted by retention): no read-back can fill them. */
  lostBefore: number;
  /** The partition's end (high watermark) as last seen: no valid position is beyond the end. */
  high: number;
}

/** Asks Kafka for a partition's end (its high watermark) now. */
export type PartitionEndFn = (partition: number) => Promise<number>;

/** Reads one channel's records back from Kafka: wire offsets in `(after, until]` of one partition. */
export type ReadBackFn = (
  channel: ChannelName,
  partition: number,
  after: number,
  until: number,
) => Promise<{ messages: StreamMessage[]; complete: boolean }>;

/**
 * The {@link HistoryStore} of the Kafka broker: channel positions are partition positions, and recent messages come
 * from this node's window — a {@link MemoryHistoryStore} fed with every record it consumes, of every channel — or,
 * when enabled, are read back from Kafka.
 *
 * A position `{ epoch, offset }` means "every message of the channel up to wire offset `offset` of that partition".
 * Since a partition carries many channels, the position of a channel nobody published on lately is simply the
 * partition's consumed end: nothing of it comes before, everything after will be delivered.
 */
export class KafkaHistory implements HistoryStore {
  /** Recent messages of every channel this node consumed (bounded by size, TTL and maxChannels). */
  readonly window: MemoryHistoryStore;
  readonly #partitions: PartitionState[] = [];
  #count = 0;
  #readBack: ReadBackFn | undefined;
  #partitionEnd: PartitionEndFn | undefined;
  #onReadBackError: ((error: unknown) => void) | undefined;
  readonly stats = { readBacks: 0, readBacksComplete: 0 };

  constructor(options: HistoryOptions = {}) {
    this.window = new MemoryHistoryStore(options, Date.now, {
      onDrop: (channel, dropped) => {
        const part = this.#partitions[this.partitionOf(channel)];
        if (part !== undefined && part.epoch === dropped.epoch && dropped.top > part.droppedTop)
          part.droppedTop = dropped.top;
      },
    });
  }

  /** Enables recovery by reading back from Kafka when the window does not cover a position. */
  setReadBack(readBack: ReadBackFn | undefined, onError?: (error: unknown) => void): void {
    this.#readBack = readBack;
    this.#onReadBackError = onError;
  }

  /** How to check a position ahead of this node against the partition's real end (else it is trusted). */
  setPartitionEnd(end: PartitionEndFn | undefined): void {
    this.#partitionEnd = end;
  }

  /** The number of partitions of the topic. */
  get partitionCount(): number {
    return this.#count;
  }

  /** Sets the number of partitions (channels map to partitions by this count). */
  setPartitionCount(count: number): void {
    this.#count = count;
    this.#partitions.length = Math.min(this.#partitions.length, count);
  }

  /** The partition a channel's messages go to. */
  partitionOf(channel: ChannelName): number {
    return partitionOf(channel, this.#count);
  }

  partition(partition: number): PartitionState | undefined {
    return this.#partitions[partition];
  }

  epochOf(partition: number): string {
    return this.#partitions[partition]?.epoch ?? '';
  }

  /** Starts a partition's stream over: first seen, or a new epoch. The window covers it from `next` on. */
  reset(partition: number, epoch: string, next: number): void {
    this.#partitions[partition] = { epoch, next, coverFrom: next + 1, droppedTop: 0, lostBefore: 0, high: next };
  }

  /** The consumer jumped over records before Kafka offset `fetched` (they were deleted): the window restarts there. */
  skipped(partition: number, fetched: number): void {
    const part = this.#partitions[partition];
    if (part === undefined) return;
    part.next = fetched;
    part.coverFrom = fetched + 1;
    part.lostBefore = fetched;
  }

  /** Keeps a consumed message in the window. */
  record(message: StreamMessage, partition: number): void {
    const part = this.#partitions[partition]!;
    // a channel first seen (or seen again after being dropped) is complete from where nothing of it can be missing
    this.window.record(message, Math.max(part.coverFrom, part.droppedTop + 1));
  }

  position(channel: ChannelName): StreamPosition {
    const part = this.#partitions[this.partitionOf(channel)];
    if (part === undefined) return { epoch: '', offset: 0 };
    return { epoch: part.epoch, offset: part.next };
  }

  read(channel: ChannelName, after: StreamPosition, limit = Infinity): MaybePromise<HistoryRead> {
    const p = this.partitionOf(channel);
    const part = this.#partitions[p];
    if (part === undefined) return { position: { epoch: '', offset: 0 }, messages: [], complete: false };
    const position = { epoch: part.epoch, offset: part.next };
    if (after.epoch !== part.epoch || !Number.isInteger(after.offset) || after.offset < 0) {
      return { position, messages: [], complete: false };
    }
    // at or past what this node consumed: nothing to replay (a reader ahead of this node waits for it to catch up),
    // unless the position lies beyond the partition's end: it cannot come from this epoch
    if (after.offset >= part.next) {
      const ahead = { position, messages: [], complete: true };
      const end = this.#partitionEnd;
      if (after.offset <= part.high || end === undefined) return ahead;
      return end(p).then(
        (high) => {
          if (this.#partitions[p] === part && high > part.high) part.high = high;
          return after.offset <= high ? ahead : { position, messages: [], complete: false };
        },
        (error: unknown) => {
          this.#onReadBackError?.(error);
          return { position, messages: [], complete: false };
        },
      );
    }
    const local = this.#readWindow(channel, part, after, limit, position);
    const readBack = this.#readBack;
    if (local.complete || readBack === undefined || after.offset < part.lostBefore) return local;
    this.stats.readBacks++;
    return readBack(channel, p, after.offset, position.offset).then(
      ({ messages, complete }) => {
        // the partition started a new epoch meanwhile: what was read belongs to the old one
        if (this.#partitions[p]?.epoch !== part.epoch) return { position, messages: [], complete: false };
        if (complete) this.stats.readBacksComplete++;
        return { position, messages: limit < messages.length ? messages.slice(0, limit) : messages, complete };
      },
      (error: unknown) => {
        this.#onReadBackError?.(error);
        return local;
      },
    );
  }

  #readWindow(
    channel: ChannelName,
    part: PartitionState,
    after: StreamPosition,
    limit: number,
    position: StreamPosition,
  ): HistoryRead {
    const coveredFrom = after.offset + 1 >= part.coverFrom;
    const coverage = this.window.peek(channel);
    if (coverage === undefined || coverage.epoch !== part.epoch) {
      // nothing of this channel in the window: complete when the window covers `after` and the channel was not
      // dropped since (a dropped channel had nothing after its top, which is at most droppedTop)
      return { position, messages: [], complete: coveredFrom && after.offset >= part.droppedTop };
    }
    const complete = coveredFrom && after.offset + 1 >= coverage.completeFrom;
    if (after.offset >= coverage.top) return { position, messages: [], complete };
    const read = this.window.read(channel, after, limit);
    return { position, messages: read.messages, complete: complete && read.complete };
  }
}
