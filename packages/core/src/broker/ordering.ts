import type { HistoryStore } from '../history';
import type { StreamMessage } from '../message';
import { ErrorCode } from '../protocol/constants';
import { UnisocketError } from '../protocol/errors';
import type { ChannelName, StreamPosition } from '../protocol/types';
import { IdWindow, settle } from '../util';
import type { BrokerHost, BrokerStats } from './events';

/** Where one subscribed channel's stream is on this node, and what waits to be delivered in order. */
export class StreamCursor {
  /** The starting position is known: messages are delivered (before that they are held). */
  ready = false;
  epoch = '';
  /** The offset of the last message delivered. */
  last = 0;
  /** Messages that arrived ahead of a missing one (or before `ready`), in offset order. */
  held: StreamMessage[] = [];
  gapTimer: NodeJS.Timeout | undefined;
  /** A read of history is under way. */
  filling = false;
  /** `subscribe` calls waiting for `ready`. */
  waiters: { resolve: (position: StreamPosition) => void; reject: (error: unknown) => void }[] | undefined;
}

/** What the ordering reads from the broker that owns it (the backend's fields are set after the base constructor). */
export interface OrderingSource {
  /** The channel history offsets refer to: gaps are filled from it. */
  readonly history: HistoryStore;
  /** `false` when offsets skip numbers (Kafka): a skipped offset is then not a gap. */
  readonly contiguousOffsets: boolean;
  /** A history read failed (reported as the broker's `error` event). */
  reportError(error: unknown): void;
}

/**
 * Per-channel stream ordering: each subscribed channel's cursor, duplicates dropped by id and by offset, messages
 * held until the ones before them arrive, gaps filled from history after `gapTimeoutMs`, epoch changes and lost
 * history reported as a resync, and convergence with history after an outage. Delivered messages go to
 * {@link host} in offset order, each once.
 */
export class StreamOrdering {
  /** Where ordered messages go: the Hub the broker is attached to. */
  host: BrokerHost | undefined;
  readonly #source: OrderingSource;
  readonly #stats: BrokerStats;
  readonly #gapTimeoutMs: number;
  readonly #maxHeld: number;
  readonly #cursors = new Map<ChannelName, StreamCursor>();
  /** Recently delivered message ids, to drop a message the backend delivers twice. */
  readonly #delivered: IdWindow;

  constructor(
    source: OrderingSource,
    stats: BrokerStats,
    options: { readonly deliveredIdsWindow: number; readonly gapTimeoutMs: number; readonly maxHeldMessages: number },
  ) {
    this.#source = source;
    this.#stats = stats;
    this.#gapTimeoutMs = options.gapTimeoutMs;
    this.#maxHeld = options.maxHeldMessages;
    this.#delivered = new IdWindow(options.deliveredIdsWindow);
  }

  /** The cursor of a subscribed channel. */
  get(channel: ChannelName): StreamCursor | undefined {
    return this.#cursors.get(channel);
  }

  /** Every subscribed channel with its cursor. */
  entries(): IterableIterator<[ChannelName, StreamCursor]> {
    return this.#cursors.entries();
  }

  /** Starts a channel's cursor: its messages are held until {@link activate}. */
  open(channel: ChannelName): StreamCursor {
    const cursor = new StreamCursor();
    this.#cursors.set(channel, cursor);
    return cursor;
  }

  /** `true` while `cursor` is the channel's current one (not dropped, not replaced). */
  isCurrent(channel: ChannelName, cursor: StreamCursor): boolean {
    return this.#cursors.get(channel) === cursor;
  }

  /** Waits for a cursor that is not ready yet to get its starting position. */
  whenReady(cursor: StreamCursor): Promise<StreamPosition> {
    return new Promise((resolve, reject) => (cursor.waiters ??= []).push({ resolve, reject }));
  }

  /**
   * Removes a channel's cursor; its waiters are rejected with `reason`.
   * @returns `false` when `cursor` was no longer the channel's
   */
  close(channel: ChannelName, cursor: StreamCursor, reason: unknown): boolean {
    if (this.#cursors.get(channel) !== cursor) return false;
    this.#cursors.delete(channel);
    if (cursor.gapTimer !== undefined) clearTimeout(cursor.gapTimer);
    const waiters = cursor.waiters;
    cursor.waiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w.reject(reason);
    return true;
  }

  /**
   * The channel's starting position is known. The host takes it ({@link BrokerHost.activate}) before the held
   * messages are dispatched, so they follow it and none is dropped.
   */
  activate(channel: ChannelName, cursor: StreamCursor, position: StreamPosition): StreamPosition {
    if (this.#cursors.get(channel) !== cursor) {
      throw new UnisocketError(ErrorCode.UNAVAILABLE, `subscription to "${channel}" was cancelled`);
    }
    cursor.ready = true;
    cursor.epoch = position.epoch;
    cursor.last = position.offset;
    this.host?.activate?.(channel, position);
    const waiters = cursor.waiters;
    cursor.waiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w.resolve(position);
    if (cursor.held.length > 0) {
      const held = cursor.held.sort(byOffset);
      cursor.held = [];
      for (const message of held) this.#accept(channel, cursor, message);
    }
    return position;
  }

  /** A message from the backend: dropped when its channel has no cursor or it was delivered already. */
  receive(message: StreamMessage): void {
    const cursor = this.#cursors.get(message.channel);
    if (cursor === undefined) return;
    if (!this.#delivered.add(message.id)) {
      this.#stats.duplicates++;
      return;
    }
    if (!cursor.ready) {
      this.#hold(message.channel, cursor, message);
      return;
    }
    this.#accept(message.channel, cursor, message);
  }

  /** An unsequenced event from the backend, for a channel whose cursor is ready. */
  receiveVolatile(channel: ChannelName, line: string): void {
    if (this.#cursors.get(channel)?.ready === true) this.host?.dispatchVolatile(channel, line);
  }

  /**
   * Compares the ready channels (those `filter` accepts) with history: what this node missed is filled, what is
   * lost is resynced — after an outage, or when the backend knows its reader skipped records.
   */
  converge(filter?: (channel: ChannelName) => boolean): void {
    for (const [channel, cursor] of this.#cursors) {
      if (!cursor.ready || (filter !== undefined && !filter(channel))) continue;
      settle(
        () => this.#source.history.position(channel),
        (position) => {
          if (this.#cursors.get(channel) !== cursor) return;
          if (position.epoch !== cursor.epoch || position.offset > cursor.last) this.#fillGap(channel, cursor);
        },
        (error) => this.#source.reportError(error),
      );
    }
  }

  #accept(channel: ChannelName, cursor: StreamCursor, message: StreamMessage): void {
    if (message.epoch !== cursor.epoch) {
      // the backend lost this channel's history and started a new epoch: offsets restart
      this.#newEpoch(channel, cursor, message.epoch);
    }
    if (message.offset <= cursor.last) {
      this.#stats.duplicates++;
      return;
    }
    if (!this.#source.contiguousOffsets || message.offset === cursor.last + 1) {
      this.#deliver(cursor, message);
      if (cursor.held.length > 0) this.#drainHeld(channel, cursor);
      return;
    }
    this.#hold(channel, cursor, message);
    this.#scheduleGapFill(channel, cursor);
  }

  /** The stream restarts at offset 0 of `epoch`: held messages of other epochs go, the host resyncs. */
  #newEpoch(channel: ChannelName, cursor: StreamCursor, epoch: string): void {
    this.#stats.resyncs++;
    cursor.epoch = epoch;
    cursor.last = 0;
    cursor.held = cursor.held.filter((m) => m.epoch === epoch);
    this.host?.resync(channel, { epoch, offset: 0 });
  }

  #deliver(cursor: StreamCursor, message: StreamMessage): void {
    cursor.last = message.offset;
    this.host?.dispatch(message);
  }

  #hold(channel: ChannelName, cursor: StreamCursor, message: StreamMessage): void {
    const held = cursor.held;
    // keep held sorted: messages mostly arrive in order, so this is an append
    let i = held.length;
    while (i > 0 && held[i - 1]!.offset > message.offset) i--;
    held.splice(i, 0, message);
    if (held.length > this.#maxHeld) {
      if (cursor.ready) this.#fillGap(channel, cursor);
      else held.shift(); // not subscribed yet: the oldest would be before the baseline anyway
    }
  }

  #drainHeld(channel: ChannelName, cursor: StreamCursor): void {
    const held = cursor.held;
    let i = 0;
    for (; i < held.length; i++) {
      const message = held[i]!;
      if (message.offset <= cursor.last) continue;
      if (message.offset !== cursor.last + 1) break;
      this.#deliver(cursor, message);
    }
    cursor.held = i === held.length ? [] : held.slice(i);
    if (cursor.held.length === 0 && cursor.gapTimer !== undefined) {
      clearTimeout(cursor.gapTimer);
      cursor.gapTimer = undefined;
    } else if (cursor.held.length > 0) {
      this.#scheduleGapFill(channel, cursor);
    }
  }

  #scheduleGapFill(channel: ChannelName, cursor: StreamCursor): void {
    if (cursor.gapTimer !== undefined || cursor.filling) return;
    cursor.gapTimer = setTimeout(() => {
      cursor.gapTimer = undefined;
      this.#fillGap(channel, cursor);
    }, this.#gapTimeoutMs);
    cursor.gapTimer.unref();
  }

  /** Reads what this node missed of a channel from history and delivers it; resyncs what is gone. */
  #fillGap(channel: ChannelName, cursor: StreamCursor): void {
    if (cursor.filling || this.#cursors.get(channel) !== cursor) return;
    if (cursor.gapTimer !== undefined) {
      clearTimeout(cursor.gapTimer);
      cursor.gapTimer = undefined;
    }
    cursor.filling = true;
    const from = { epoch: cursor.epoch, offset: cursor.last };
    settle(
      () => this.#source.history.read(channel, from),
      (read) => {
        cursor.filling = false;
        if (this.#cursors.get(channel) !== cursor) return;
        if (read.position.epoch !== cursor.epoch) {
          if (cursor.epoch !== from.epoch && read.position.epoch === from.epoch) {
            // live messages of a newer epoch arrived while the old one was read: this answer is stale
            this.#drainHeld(channel, cursor);
            return;
          }
          // a new epoch (the backend lost the history): like a live message of a new epoch, every message of it is
          // new to this node, so continue from its start and read again from there
          this.#newEpoch(channel, cursor, read.position.epoch);
          if (read.position.offset > 0 || cursor.held.length > 0) this.#fillGap(channel, cursor);
          return;
        }
        if (read.position.epoch !== from.epoch) {
          // the cursor switched to this epoch live while the old one was read: read again from where it is now
          if (read.position.offset > cursor.last && cursor.held.length === 0) this.#fillGap(channel, cursor);
          else this.#drainHeld(channel, cursor);
          return;
        }
        // `complete` is about `from`; live messages may have moved the cursor past what history lost meanwhile
        const firstKept = read.messages[0]?.offset ?? read.position.offset + 1;
        if (!read.complete && firstKept > cursor.last + 1) {
          // gone from history: continue from the oldest message still held there, or from what arrived live
          this.#stats.gapsLost++;
          const next =
            read.messages.find((m) => m.offset > cursor.last) ?? cursor.held.find((m) => m.epoch === cursor.epoch);
          cursor.last = next !== undefined ? next.offset - 1 : read.position.offset;
          cursor.held = cursor.held.filter((m) => m.epoch === cursor.epoch);
          this.host?.resync(channel, { epoch: cursor.epoch, offset: cursor.last });
        }
        let filled = false;
        const contiguous = this.#source.contiguousOffsets;
        for (const message of read.messages) {
          if (message.offset <= cursor.last) continue;
          if (contiguous && message.offset !== cursor.last + 1) break;
          this.#delivered.add(message.id);
          this.#deliver(cursor, message);
          filled = true;
        }
        if (filled && read.complete) this.#stats.gapsFilled++;
        this.#drainHeld(channel, cursor);
      },
      (error) => {
        cursor.filling = false;
        this.#source.reportError(error);
        if (this.#cursors.get(channel) === cursor && cursor.held.length > 0) this.#scheduleGapFill(channel, cursor);
      },
    );
  }
}

function byOffset(a: StreamMessage, b: StreamMessage): number {
  return a.offset - b.offset;
}
