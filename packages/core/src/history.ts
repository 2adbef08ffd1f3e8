import { randomBytes } from 'node:crypto';
import { CircularBuffer, LRUCache } from '@unisocket/memory';
import type { PublishRequest, StreamMessage } from './message';
import { toStreamMessage } from './message';
import type { ChannelName, StreamPosition } from './protocol/types';
import type { MaybePromise } from './util';

/** The answer of {@link HistoryStore.read}. */
export interface HistoryRead {
  /** The channel's current position (its newest offset; `0` when it has no messages). */
  readonly position: StreamPosition;
  /** Messages with an offset greater than `after.offset`, oldest first. */
  readonly messages: StreamMessage[];
  /**
   * `true` when `messages` holds every message after `after`: same epoch and nothing evicted in between.
   * `false` means the reader missed messages that are gone; `messages` then holds what is still kept after
   * `after` (same epoch), or nothing (another epoch).
   */
  readonly complete: boolean;
}

/**
 * A per-channel bounded stream with epoch and offsets, used for recovery and to fill gaps between nodes.
 * The memory implementation is {@link MemoryHistoryStore}; `@unisocket/broker-redis` keeps it in Redis Streams.
 */
export interface HistoryStore {
  /** The current position of a channel. A channel never published to has offset `0` in a fresh epoch. */
  position(channel: ChannelName): MaybePromise<StreamPosition>;
  /** The messages after `after`, at most `limit` (the oldest ones first), and whether they are complete. */
  read(channel: ChannelName, after: StreamPosition, limit?: number): MaybePromise<HistoryRead>;
}

/** Options of a history: per-channel size and age bounds. */
export interface HistoryOptions {
  /**
   * Messages kept per channel. `0` keeps none: recovery then only succeeds when nothing was missed.
   * @default 100
   */
  size?: number;
  /**
   * How long a message stays recoverable, in ms.
   * @default 300_000 (5 minutes)
   */
  ttlMs?: number;
  /**
   * The most channels whose history is kept in memory; the least recently published channel's history is
   * dropped past it (its epoch changes, so its readers learn they missed messages).
   * @default 10_000
   */
  maxChannels?: number;
}

/** Defaults of {@link HistoryOptions}. */
export const DEFAULT_HISTORY_OPTIONS: Required<HistoryOptions> = {
  size: 100,
  ttlMs: 300_000,
  maxChannels: 10_000,
};

/** Validates history options, throwing a `TypeError` that says what to change. */
export function resolveHistoryOptions(options: HistoryOptions = {}): Required<HistoryOptions> {
  const resolved = { ...DEFAULT_HISTORY_OPTIONS, ...definedOnly(options) };
  if (!Number.isInteger(resolved.size) || resolved.size < 0) {
    throw new TypeError(`history.size must be an integer >= 0, got ${String(options.size)}`);
  }
  if (!Number.isFinite(resolved.ttlMs) || resolved.ttlMs <= 0) {
    throw new TypeError(`history.ttlMs must be a positive number of milliseconds, got ${String(options.ttlMs)}`);
  }
  if (!Number.isInteger(resolved.maxChannels) || resolved.maxChannels < 1) {
    throw new TypeError(`history.maxChannels must be a positive integer, got ${String(options.maxChannels)}`);
  }
  return resolved;
}

/** What a {@link MemoryHistoryStore} knows of one channel, without creating or touching it: see {@link MemoryHistoryStore.peek}. */
export interface ChannelCoverage {
  readonly epoch: string;
  /** The newest offset assigned or recorded (for a recorded stream: `coverFrom - 1` until its first message). */
  readonly top: number;
  /** Every message with an offset `>= completeFrom` (up to `top`) is still held. */
  readonly completeFrom: number;
}

/** Callbacks of a {@link MemoryHistoryStore} for backends that keep bookkeeping beside it. */
export interface MemoryHistoryHooks {
  /**
   * A channel's whole stream was dropped to stay within `maxChannels` (least recently written first). A backend that
   * records externally numbered messages learns here that it no longer knows what this channel had up to `top`.
   */
  onDrop?: (channel: ChannelName, dropped: ChannelCoverage) => void;
}

class ChannelStream {
  /** The newest offset assigned or recorded. */
  top = 0;
  /** Every message with an offset >= `completeFrom` is still held. */
  completeFrom = 0;
  /** Created lazily when the size is 0 at creation; grown when the size is raised again ({@link MemoryHistoryStore.resize}). */
  ring: CircularBuffer<StreamMessage> | undefined;

  constructor(
    readonly epoch: string,
    size: number,
  ) {
    this.ring = size > 0 ? new CircularBuffer<StreamMessage>(size) : undefined;
  }
}

/**
 * In-memory history: a ring of the last `size` messages per channel, expiring after `ttlMs`, for at most
 * `maxChannels` channels. Epochs are random per process, so a restart (which loses this history) changes them.
 *
 * It assigns contiguous offsets itself ({@link append}) or records messages whose offsets another system
 * assigned ({@link record}, e.g. Kafka offsets, which may skip numbers).
 */
export class MemoryHistoryStore implements HistoryStore {
  readonly #options: Required<HistoryOptions>;
  readonly #channels: LRUCache<ChannelName, ChannelStream>;
  readonly #now: () => number;
  readonly #epochPrefix = randomBytes(4).toString('hex');
  #epochCounter = 0;

  constructor(options: HistoryOptions = {}, now: () => number = Date.now, hooks: MemoryHistoryHooks = {}) {
    this.#options = resolveHistoryOptions(options);
    const onDrop = hooks.onDrop;
    this.#channels = new LRUCache<ChannelName, ChannelStream>({
      max: this.#options.maxChannels,
      ...(onDrop === undefined
        ? {}
        : {
            onEvict: (channel, stream) =>
              onDrop(channel, { epoch: stream.epoch, top: stream.top, completeFrom: stream.completeFrom }),
          }),
    });
    this.#now = now;
  }

  /** The resolved options. */
  get options(): Readonly<Required<HistoryOptions>> {
    return this.#options;
  }

  /** Number of channels with a stream in memory. */
  get channelCount(): number {
    return this.#channels.size;
  }

  /** Number of messages held across all channels. */
  get messageCount(): number {
    let n = 0;
    for (const [, stream] of this.#channels.entries()) n += stream.ring?.size ?? 0;
    return n;
  }

  /** Assigns the next offset of the channel to a published message and keeps it. */
  append(request: PublishRequest): StreamMessage {
    const stream = this.#stream(request.channel, true);
    const message = toStreamMessage(request, stream.epoch, stream.top + 1);
    this.#keep(stream, message);
    return message;
  }

  /**
   * Keeps a message whose offset was assigned elsewhere. Offsets must increase per channel; an older one is
   * ignored. `coverFrom` (for a channel seen for the first time) is the lowest offset from which every message
   * of the channel will be recorded, e.g. the partition offset a Kafka consumer started at.
   */
  record(message: StreamMessage, coverFrom = message.offset): void {
    let stream = this.#channels.get(message.channel);
    if (stream === undefined || stream.epoch !== message.epoch) {
      stream = new ChannelStream(message.epoch, this.#options.size);
      stream.completeFrom = coverFrom;
      stream.top = coverFrom - 1;
      this.#channels.set(message.channel, stream);
    }
    if (message.offset <= stream.top) return;
    this.#keep(stream, message);
  }

  /**
   * What is known of a channel — epoch, newest offset, and from where its stream is complete (expired messages
   * accounted for) — or `undefined` when the channel has no stream. Unlike {@link position} and {@link read} it
   * never creates a stream (nor starts an epoch) and does not change which channel is dropped first.
   */
  peek(channel: ChannelName): ChannelCoverage | undefined {
    const stream = this.#channels.peek(channel);
    if (stream === undefined) return undefined;
    this.#expire(stream);
    return { epoch: stream.epoch, top: stream.top, completeFrom: stream.completeFrom };
  }

  position(channel: ChannelName): StreamPosition {
    const stream = this.#stream(channel, true);
    return { epoch: stream.epoch, offset: stream.top };
  }

  read(channel: ChannelName, after: StreamPosition, limit = Infinity): HistoryRead {
    const stream = this.#stream(channel, true);
    const position = { epoch: stream.epoch, offset: stream.top };
    this.#expire(stream);
    if (after.epoch !== stream.epoch || after.offset > stream.top) {
      return { position, messages: [], complete: false };
    }
    // when the start is gone, what is still held is returned anyway: a gap filler loses only what is truly gone
    const complete = after.offset + 1 >= stream.completeFrom;
    const messages: StreamMessage[] = [];
    if (stream.ring !== undefined) {
      for (const message of stream.ring) {
        if (message.offset <= after.offset) continue;
        if (messages.length === limit) break;
        messages.push(message);
      }
    }
    return { position, messages, complete };
  }

  /** The messages kept per channel now (the configured `size`, or less while shrunk under memory pressure). */
  get size(): number {
    return this.#options.size;
  }

  /**
   * Shrinks every channel's ring to `size` messages at once (memory pressure). Readers of what was dropped learn
   * it from `complete: false`. A larger `size` only raises the bound, as {@link resize} does.
   * @returns the number of messages dropped
   */
  shrink(size: number): number {
    return this.resize(size);
  }

  /**
   * Sets the messages kept per channel: shrinking drops the oldest messages of every channel now; growing (e.g.
   * restoring the configured size when memory pressure falls) lets the rings fill up again as messages arrive.
   * @returns the number of messages dropped
   */
  resize(size: number): number {
    if (!Number.isInteger(size) || size < 0) {
      throw new TypeError(`history size must be an integer >= 0, got ${String(size)}`);
    }
    let dropped = 0;
    this.#options.size = size;
    for (const [, stream] of this.#channels.entries()) {
      const ring = stream.ring;
      if (ring === undefined) continue;
      while (ring.size > size) {
        const evicted = ring.shift()!;
        stream.completeFrom = evicted.offset + 1;
        dropped++;
      }
      // give the slots back too: a ring's array is sized by its capacity, not by what it holds
      if (size === 0) stream.ring = undefined;
      else if (ring.capacity > size) ring.resize(size);
    }
    return dropped;
  }

  /** Drops the history of a channel (its next position starts a new epoch). */
  delete(channel: ChannelName): boolean {
    return this.#channels.delete(channel);
  }

  #stream(channel: ChannelName, create: true): ChannelStream;
  #stream(channel: ChannelName, create: boolean): ChannelStream | undefined {
    let stream = this.#channels.get(channel);
    if (stream === undefined && create) {
      stream = new ChannelStream(`${this.#epochPrefix}${(this.#epochCounter++).toString(36)}`, this.#options.size);
      stream.completeFrom = 1;
      this.#channels.set(channel, stream);
    }
    return stream;
  }

  #keep(stream: ChannelStream, message: StreamMessage): void {
    stream.top = message.offset;
    const size = this.#options.size;
    if (size === 0) {
      stream.completeFrom = message.offset + 1;
      return;
    }
    let ring = stream.ring;
    if (ring === undefined) ring = stream.ring = new CircularBuffer<StreamMessage>(size);
    else if (ring.capacity < size) ring.resize(size);
    while (ring.size >= size) {
      const evicted = ring.shift()!;
      stream.completeFrom = evicted.offset + 1;
    }
    ring.push(message);
    this.#expire(stream);
  }

  #expire(stream: ChannelStream): void {
    const ring = stream.ring;
    if (ring === undefined) return;
    const oldest = ring.first();
    if (oldest === undefined) return;
    const cutoff = this.#now() - this.#options.ttlMs;
    if (oldest.ts > cutoff) return;
    while (ring.size > 0 && ring.first()!.ts <= cutoff) {
      stream.completeFrom = ring.shift()!.offset + 1;
    }
  }
}

function definedOnly<T extends object>(options: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(options) as (keyof T)[]) if (options[key] !== undefined) out[key] = options[key];
  return out;
}
