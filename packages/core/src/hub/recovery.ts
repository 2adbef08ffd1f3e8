import type { EventEmitter } from 'node:events';
import type { Broker } from '../broker';
import type { ChannelState, Connection, Subscription } from '../connection';
import type { HistoryRead } from '../history';
import type { Deliverable } from '../message';
import { PreparedBatch } from '../prepared-batch';
import { ErrorCode } from '../protocol/constants';
import { UnisocketError } from '../protocol/errors';
import type { AckFrame, ChannelName, PresenceMember, Ref, StreamPosition } from '../protocol/types';
import type { Backpressure } from './backpressure';
import type { Delivery, SyncingFeed } from './delivery';
import type { HubEvents, HubStats } from './events';
import { HistoryReads } from './history-reads';
import { RecoveryBudget, type ResolvedRecoveryOptions } from './recovery-budget';
import type { ChannelRegistry, ConnectionRegistry } from './registry';
import { type Replies, withErrorContext, withRef } from './replies';
import type { ReplyOrNone } from './reply';

/** What recovery needs from the subscriptions above it. */
export interface RecoveryHost {
  /** Ends a subscription that could not start and reports why. */
  abort(sub: Subscription, error: UnisocketError, reply: ReplyOrNone): void;
}

/** What recovery did and holds now (see {@link Hub.recoveryStats}). */
export interface RecoveryStats {
  /** History reads recovering subscriptions asked for. */
  requests: number;
  /** History reads issued to the store. */
  reads: number;
  /** Requests answered by a read issued for another subscription of the same channel. */
  readsMerged: number;
  /** Replays running now (at most `recovery.maxConcurrent`). */
  active: number;
  /** Replays waiting for a slot now. */
  queued: number;
  /** The most replays that waited at once since the Hub started. */
  queuedPeak: number;
  /** Replays that had to wait for a slot. */
  waited: number;
  /** Subscribes refused with `UNAVAILABLE` because the queue was full (`recovery.maxQueued`). */
  refused: number;
}

/**
 * Where a subscription starts streaming, and the seam between history and live, in one place:
 *
 * 1. {@link start}: without `since`, or at the channel's position, the subscription is acked and goes live at once.
 *    Otherwise it is `syncing`: history after `since` is read while live messages collect in its buffer
 *    ({@link feed}, called by every flush of the channel);
 * 2. the ack says `recovered: true` (history covers `since`; the replay is written) or `false` (it does not: the
 *    subscription goes live from the channel's position);
 * 3. {@link catchUp}: what the buffer holds past the replay is written, and the subscription joins the live set once
 *    it holds exactly what the channel flushed: no gap and no duplicate at the seam;
 * 4. {@link resync}: the broker lost the channel's history; positions restart, live and syncing subscribers are told.
 *
 * A reconnect storm stays cheap: replays take a slot of a per-node budget ({@link RecoveryBudget}: the rest wait in a
 * FIFO queue, costing no buffer until their turn) and identical history reads are merged ({@link HistoryReads}: about
 * one read per channel and range, not one per client).
 */
export class Recovery implements SyncingFeed {
  /** `limits.maxRecoveryBuffer`, kept current by the Hub. */
  maxRecoveryBuffer: number;
  readonly #stats: HubStats;
  readonly #events: EventEmitter<HubEvents>;
  readonly #replies: Replies;
  readonly #channels: ChannelRegistry;
  readonly #connections: ConnectionRegistry;
  readonly #delivery: Delivery;
  readonly #backpressure: Backpressure;
  readonly #host: RecoveryHost;
  readonly #reads: HistoryReads;
  readonly #budget: RecoveryBudget<Subscription>;

  constructor(
    maxRecoveryBuffer: number,
    options: ResolvedRecoveryOptions,
    broker: Broker,
    stats: HubStats,
    events: EventEmitter<HubEvents>,
    replies: Replies,
    channels: ChannelRegistry,
    connections: ConnectionRegistry,
    delivery: Delivery,
    backpressure: Backpressure,
    host: RecoveryHost,
  ) {
    this.maxRecoveryBuffer = maxRecoveryBuffer;
    this.#stats = stats;
    this.#events = events;
    this.#replies = replies;
    this.#channels = channels;
    this.#connections = connections;
    this.#delivery = delivery;
    this.#backpressure = backpressure;
    this.#host = host;
    this.#reads = new HistoryReads(() => broker.history);
    this.#budget = new RecoveryBudget<Subscription>(options, (sub) => sub.state !== 'closed');
  }

  /** What recovery did and holds now. */
  stats(): RecoveryStats {
    const reads = this.#reads.stats;
    const budget = this.#budget.stats;
    return {
      requests: reads.requests,
      reads: reads.reads,
      readsMerged: reads.merged,
      active: budget.active,
      queued: budget.queued,
      queuedPeak: budget.queuedPeak,
      waited: budget.waited,
      refused: budget.refused,
    };
  }

  /** The budget's limits. */
  get options(): Readonly<ResolvedRecoveryOptions> {
    return this.#budget.options;
  }

  /** New budget limits. */
  configure(options: ResolvedRecoveryOptions): void {
    this.#budget.configure(options);
  }

  /** A subscription ended (unsubscribed, or its connection closed): it leaves the queue if it waits for a slot. */
  cancel(sub: Subscription): void {
    if (this.#budget.stats.queued > 0) this.#budget.cancel(sub);
  }

  /** A connection closed: its subscriptions waiting for a replay slot leave the queue. */
  dropWaiting(conn: Connection): void {
    const subs = conn.subs;
    if (subs === undefined || this.#budget.stats.queued === 0) return;
    for (const sub of subs.values()) this.#budget.cancel(sub);
  }

  /** Acks a subscription on an active channel and streams: live at once, or history first then live. */
  start(
    sub: Subscription,
    since: StreamPosition | undefined,
    ref: Ref | undefined,
    reply: ReplyOrNone,
    members: PresenceMember[] | undefined,
  ): void {
    const ch = sub.channel!;
    const conn = sub.conn;
    const ack: AckFrame = withRef({ type: 'ack', channel: sub.name, epoch: ch.epoch, offset: ch.flushed }, ref);
    if (members !== undefined) ack.members = members;
    if (since === undefined) {
      sub.owed = undefined;
      this.#replies.reply(conn, reply, ack);
      this.#goLive(sub);
      return;
    }
    if (since.epoch === ch.epoch && since.offset === ch.flushed) {
      sub.owed = undefined;
      ack.recovered = true;
      this.#stats.recovered++;
      this.#replies.reply(conn, reply, ack);
      this.#goLive(sub);
      return;
    }
    const budget = this.#budget;
    if (!budget.run(sub, () => this.#replay(sub, since, ref, reply, ack))) {
      const { maxConcurrent, maxQueued } = budget.options;
      this.#host.abort(
        sub,
        new UnisocketError(
          ErrorCode.UNAVAILABLE,
          `this node is recovering too many subscriptions (${maxConcurrent} replaying, ${maxQueued} waiting): ` +
            'subscribe again later or on another node (raise recovery.maxQueued to let more wait)',
          ref === undefined ? { channel: sub.name } : { ref, channel: sub.name },
        ),
        reply,
      );
    }
  }

  /** Replays history after `since` (with a slot of the budget, released when the replay is written or failed). */
  #replay(sub: Subscription, since: StreamPosition, ref: Ref | undefined, reply: ReplyOrNone, ack: AckFrame): void {
    const ch = sub.channel!;
    const budget = this.#budget;
    // replay history while live messages collect in the subscription's buffer
    sub.state = 'syncing';
    sub.buffer = [];
    sub.lastSent = since.offset;
    (ch.syncing ??= new Set()).add(sub);
    this.#reads.read(
      sub.name,
      since,
      ch.flushed,
      (read) => {
        try {
          this.#replayed(sub, since, reply, ack, read);
        } finally {
          budget.release();
        }
      },
      (error) => {
        budget.release();
        if (sub.state === 'closed') return;
        this.#host.abort(
          sub,
          withErrorContext(error, ref, sub.name, ErrorCode.UNAVAILABLE, `cannot read the history of "${sub.name}" now`),
          reply,
        );
      },
    );
  }

  /** The history read returned: the ack (recovered or not), the replay, and the catch-up with what was buffered. */
  #replayed(sub: Subscription, since: StreamPosition, reply: ReplyOrNone, ack: AckFrame, read: HistoryRead): void {
    if (sub.state === 'closed') return;
    const ch = sub.channel!;
    const conn = sub.conn;
    sub.owed = undefined;
    if (!read.complete || read.position.epoch !== ch.epoch || read.position.epoch !== since.epoch) {
      this.#stats.notRecovered++;
      ch.syncing?.delete(sub);
      sub.buffer = undefined;
      ack.recovered = false;
      ack.epoch = ch.epoch;
      ack.offset = ch.flushed;
      this.#replies.reply(conn, reply, ack);
      this.#goLive(sub);
      return;
    }
    this.#stats.recovered++;
    ack.recovered = true;
    ack.epoch = ch.epoch;
    ack.offset = Math.max(read.position.offset, since.offset);
    this.#replies.reply(conn, reply, ack);
    const messages = read.messages;
    if (messages.length > 0) {
      this.#delivery.writeLines(conn, sub.name, messages);
      sub.lastSent = messages[messages.length - 1]!.offset;
    }
    sub.replayed = true;
    this.#catchUp(sub);
  }

  /** What a flush of the channel gives its syncing subscribers: buffered, and sent once their replay is written. */
  feed(ch: ChannelState, items: readonly Deliverable[]): void {
    for (const sub of ch.syncing!) {
      const buffer = sub.buffer!;
      for (const item of items) buffer.push(item);
      if (buffer.length > this.maxRecoveryBuffer) {
        this.#connections.slowConsumer(sub.conn, 'fell too far behind while recovering');
        continue;
      }
      if (sub.replayed) this.#catchUp(sub);
    }
  }

  /** Sends a syncing subscriber what it buffered past its position; promotes it to live once caught up. */
  #catchUp(sub: Subscription): void {
    const ch = sub.channel!;
    const buffer = sub.buffer!;
    if (buffer.length > 0) {
      const lines: Deliverable[] = [];
      for (const item of buffer) {
        if (item.offset < 0) lines.push(item);
        else if (item.offset > sub.lastSent) {
          lines.push(item);
          sub.lastSent = item.offset;
        }
      }
      sub.buffer = [];
      if (lines.length > 0) this.#delivery.writeLines(sub.conn, sub.name, lines);
    }
    // join the live set only when holding exactly what was flushed: the pending batch (offsets past `flushed`)
    // then reaches it once. A subscriber ahead of this node (history ran ahead of the broker feed, or it came
    // from another node) waits here until the channel catches up with it.
    if (sub.lastSent <= ch.flushed) {
      ch.syncing?.delete(sub);
      sub.buffer = undefined;
      this.#goLive(sub);
    }
  }

  #goLive(sub: Subscription): void {
    if (sub.state === 'closed') return;
    sub.state = 'live';
    sub.channel!.live.add(sub.conn);
    this.#events.emit('subscribe', sub.conn, sub.name);
  }

  /** The broker lost a channel's history: its positions restart at `position`, and its subscribers are told. */
  resync(channel: ChannelName, position: StreamPosition): void {
    const channels = this.#channels;
    const ch = channels.lookup(channel);
    if (ch === undefined || !ch.active) return;
    if (ch.pending.length > 0) this.#delivery.flushChannel(ch);
    this.#stats.resyncs++;
    ch.epoch = position.epoch;
    ch.flushed = position.offset;
    if (ch === channels.broadcast) return;
    const line = JSON.stringify({ type: 'resync', channel, epoch: position.epoch, offset: position.offset });
    const batch = new PreparedBatch(channel, [line]);
    for (const conn of ch.live) {
      // what a backed-up connection still holds of the channel belongs to the stream that ended
      if (conn.backlog !== undefined) this.#backpressure.purge(conn, channel);
      this.#delivery.deliver(conn, batch);
    }
    if (ch.syncing !== undefined) {
      for (const sub of [...ch.syncing]) {
        if (!sub.replayed) continue; // its history read will see the new epoch and answer recovered:false
        this.#delivery.deliver(sub.conn, batch);
        sub.buffer = [];
        sub.lastSent = position.offset;
        this.#catchUp(sub);
      }
    }
  }
}
