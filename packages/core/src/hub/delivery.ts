import type { ChannelState, Connection } from '../connection';
import type { LatencyRecorder } from '../latency';
import type { Deliverable, StreamMessage } from '../message';
import { PreparedBatch } from '../prepared-batch';
import { BROADCAST_CHANNEL } from '../protocol/constants';
import type { ChannelName } from '../protocol/types';
import type { Backpressure } from './backpressure';
import type { HubStats } from './events';
import type { ChannelRegistry, ConnectionRegistry } from './registry';

/** Where a flush hands the subscribers still replaying history their share (recovery). */
export interface SyncingFeed {
  /** Called when a flushed channel has subscribers replaying history, with what was flushed. */
  feed(ch: ChannelState, items: readonly Deliverable[]): void;
}

/**
 * The publish path's last leg: what the broker dispatches is queued per channel and flushed once per event-loop
 * turn (or `batch.delayMs`, or at `batch.maxMessages`): one {@link PreparedBatch} per channel, written to every live
 * subscriber. On `disconnect` channels (the default) a subscriber whose socket holds more than `maxBufferedBytes`
 * is a slow consumer (4008); other policies go through {@link Backpressure}.
 */
export class Delivery {
  /** `limits.maxBufferedBytes`, read once per delivery; kept current by the Hub. */
  maxBuffered: number;
  readonly #channels: Map<ChannelName, ChannelState>;
  readonly #broadcast: ChannelState;
  #dirty: ChannelState[] = [];
  #flushScheduled = false;
  readonly #maxMessages: number;
  readonly #delayMs: number;
  readonly #stats: HubStats;
  readonly #latency: LatencyRecorder;
  readonly #connections: ConnectionRegistry;
  readonly #backpressure: Backpressure;
  readonly #syncing: SyncingFeed;

  constructor(
    maxBuffered: number,
    batch: { readonly maxMessages: number; readonly delayMs: number },
    stats: HubStats,
    latency: LatencyRecorder,
    channels: ChannelRegistry,
    connections: ConnectionRegistry,
    backpressure: Backpressure,
    syncing: SyncingFeed,
  ) {
    this.maxBuffered = maxBuffered;
    this.#maxMessages = batch.maxMessages;
    this.#delayMs = batch.delayMs;
    this.#stats = stats;
    this.#latency = latency;
    this.#channels = channels.channels;
    this.#broadcast = channels.broadcast;
    this.#connections = connections;
    this.#backpressure = backpressure;
    this.#syncing = syncing;
  }

  /** A message of a channel's stream, from the broker. */
  dispatch(message: StreamMessage): void {
    const ch = message.channel === BROADCAST_CHANNEL ? this.#broadcast : this.#channels.get(message.channel);
    if (ch === undefined || !ch.active) return;
    this.#stats.dispatched++;
    if (ch.oldestTs === 0) ch.oldestTs = message.ts;
    this.#enqueue(ch, message);
  }

  /** An unsequenced line (a presence event), from the broker. */
  dispatchVolatile(channel: ChannelName, line: string): void {
    const ch = this.#channels.get(channel);
    if (ch === undefined || !ch.active) return;
    this.#enqueue(ch, { line, offset: -1 });
  }

  #enqueue(ch: ChannelState, item: Deliverable): void {
    ch.pending.push(item);
    if (ch.pending.length >= this.#maxMessages) {
      // a full batch goes out now: frames stay bounded and nothing piles up within a tick
      this.flushChannel(ch);
      return;
    }
    if (!ch.dirty) {
      ch.dirty = true;
      this.#dirty.push(ch);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        if (this.#delayMs > 0) setTimeout(this.flushAll, this.#delayMs);
        else setImmediate(this.flushAll);
      }
    }
  }

  /** Flushes every channel with pending messages. */
  readonly flushAll = (): void => {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const ch of dirty) if (ch.dirty) this.flushChannel(ch);
  };

  /** Writes a channel's pending messages as one batch to each live subscriber; feeds the syncing ones. */
  flushChannel(ch: ChannelState): void {
    ch.dirty = false;
    const items = ch.pending;
    if (items.length === 0) return;
    ch.pending = [];
    const lines = new Array<string>(items.length);
    let last = ch.flushed;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      lines[i] = item.line;
      if (item.offset > last) last = item.offset;
    }
    ch.flushed = last;
    const oldestTs = ch.oldestTs;
    ch.oldestTs = 0;
    if (ch.live.size > 0) {
      const batch = new PreparedBatch(ch.name, lines).markExceptions();
      this.#stats.batches++;
      const policy = ch.policy;
      if (policy === null) for (const conn of ch.live) this.deliver(conn, batch);
      else this.#backpressure.deliver(ch, policy, batch);
      // one latency sample per batch: its oldest message, from publish to being handed to the sockets
      if (oldestTs !== 0) this.#latency.record(Date.now() - oldestTs);
    }
    const syncing = ch.syncing;
    if (syncing !== undefined && syncing.size > 0) this.#syncing.feed(ch, items);
  }

  /** Writes a batch to one connection, or closes it as a slow consumer when its socket holds too much. */
  deliver(conn: Connection, prepared: PreparedBatch): void {
    if (conn.closed) return;
    const batch = prepared.except === undefined ? prepared : prepared.forConnection(conn);
    if (batch.count === 0) return;
    const socket = conn.socket;
    if (socket.bufferedBytes > this.maxBuffered) {
      this.#connections.slowConsumer(conn, 'outbound buffer over maxBufferedBytes');
      return;
    }
    socket.sendBatch(batch);
    conn.delivered += batch.count;
    conn.bytesOut += batch.byteLength;
  }

  /** Writes lines to one connection outside the channel flush (history replay, catch-up), in bounded frames. */
  writeLines(conn: Connection, channel: ChannelName, items: readonly Deliverable[]): void {
    const max = this.#maxMessages;
    for (let start = 0; start < items.length && !conn.closed; start += max) {
      const end = Math.min(items.length, start + max);
      const lines = new Array<string>(end - start);
      for (let i = start; i < end; i++) lines[i - start] = items[i]!.line;
      const batch = new PreparedBatch(channel, lines);
      conn.socket.sendBatch(batch);
      conn.delivered += batch.count;
      conn.bytesOut += batch.byteLength;
    }
  }
}
