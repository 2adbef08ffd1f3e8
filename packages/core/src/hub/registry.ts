import type { EventEmitter } from 'node:events';
import type { ResolvedBackpressure } from '../backpressure';
import type { Broker } from '../broker';
import { ChannelState, type Connection } from '../connection';
import { channelKind } from '../protocol/channel';
import { BROADCAST_CHANNEL, CloseCode } from '../protocol/constants';
import type { ChannelName, StreamPosition, UserId } from '../protocol/types';
import { settle } from '../util';
import type { HubEvents, HubStats } from './events';

/** The connections on this node, by user too; closing them; what closed ones delivered. */
export class ConnectionRegistry {
  readonly all = new Set<Connection>();
  readonly users = new Map<UserId, Set<Connection>>();
  readonly #stats: HubStats;
  readonly #events: EventEmitter<HubEvents>;

  constructor(stats: HubStats, events: EventEmitter<HubEvents>) {
    this.#stats = stats;
    this.#events = events;
  }

  add(conn: Connection): void {
    this.all.add(conn);
    this.#stats.connectionsTotal++;
    if (this.all.size > this.#stats.connectionsPeak) this.#stats.connectionsPeak = this.all.size;
  }

  /** Files a connection under its user (once, when it first gets an identity). */
  addUser(conn: Connection, userId: UserId): void {
    let set = this.users.get(userId);
    if (set === undefined) this.users.set(userId, (set = new Set()));
    set.add(conn);
  }

  /** Takes a closed connection out of the registry. @returns `false` when it was not registered */
  delete(conn: Connection): boolean {
    return this.all.delete(conn);
  }

  /** Files a deleted connection away: off its user's list, what it delivered added to the totals. */
  retire(conn: Connection): void {
    if (conn.userId !== null) {
      const set = this.users.get(conn.userId);
      set?.delete(conn);
      if (set?.size === 0) this.users.delete(conn.userId);
    }
    const stats = this.#stats;
    stats.closedDelivered += conn.delivered;
    stats.closedBytesOut += conn.bytesOut;
    stats.closedCommandsIn += conn.commandsIn;
    stats.lastDisconnectAt = Date.now();
    const totals = (stats.closedByTransport[conn.transport] ??= { delivered: 0, bytesOut: 0, commandsIn: 0 });
    totals.delivered += conn.delivered;
    totals.bytesOut += conn.bytesOut;
    totals.commandsIn += conn.commandsIn;
  }

  /** Closes a connection (it is removed when its transport reports the close). */
  disconnect(conn: Connection, code: number, reason: string): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.closedWith = { code, reason };
    conn.socket.close(code, reason);
  }

  /** Closes a connection that does not read fast enough (4008): it recovers from history on reconnect. */
  slowConsumer(conn: Connection, reason: string): void {
    if (conn.closed) return;
    this.#stats.slowConsumers++;
    this.#events.emit('slowConsumer', conn);
    this.disconnect(conn, CloseCode.SLOW_CONSUMER, `slow consumer: ${reason}`);
  }
}

/**
 * Told when a channel gets its first local subscriber and when it loses its last one (or its broker subscription
 * failed): the occupancy tracker. Never called on the message path, nor for the `*` channel.
 */
export interface ChannelLifecycle {
  acquired(name: ChannelName): void;
  released(name: ChannelName): void;
}

/**
 * The channels with local subscribers, and the `*` channel (every connection). A channel is taken by its first
 * subscription and released by its last; in between it is subscribed at the broker, and active once the broker
 * said where its stream stands.
 */
export class ChannelRegistry {
  readonly channels = new Map<ChannelName, ChannelState>();
  readonly broadcast: ChannelState;
  /** Told of first and last local subscribers; `undefined` (nothing to call) while occupancy is not tracked. */
  lifecycle: ChannelLifecycle | undefined = undefined;
  readonly #broker: Broker;
  readonly #backpressure: ResolvedBackpressure;

  constructor(broker: Broker, backpressure: ResolvedBackpressure, everyone: Set<Connection>) {
    this.#broker = broker;
    this.#backpressure = backpressure;
    this.broadcast = new ChannelState(
      BROADCAST_CHANNEL,
      'broadcast',
      backpressure.policyFor(BROADCAST_CHANNEL),
      everyone,
    );
  }

  /** The state of a channel on this node (`*` included), or `undefined`. */
  lookup(name: ChannelName): ChannelState | undefined {
    return name === BROADCAST_CHANNEL ? this.broadcast : this.channels.get(name);
  }

  /**
   * A channel starts at the broker's position. The broker calls this before it dispatches any message after that
   * position (the ones it held while the position was read included), so none of them meets an inactive channel.
   * A broker without the hook activates when `subscribe` resolves. Idempotent.
   */
  activate(name: ChannelName, position: StreamPosition): void {
    const ch = this.lookup(name);
    if (ch === undefined || ch.active) return;
    ch.epoch = position.epoch;
    ch.flushed = position.offset;
    ch.active = true;
    const waiters = ch.waiters;
    ch.waiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w.ok();
  }

  /** Takes a channel for one more subscription; the first one subscribes it at the broker. */
  acquire(name: ChannelName): ChannelState {
    let ch = this.channels.get(name);
    if (ch !== undefined) {
      ch.refs++;
      return ch;
    }
    ch = new ChannelState(name, channelKind(name), this.#backpressure.policyFor(name));
    ch.refs = 1;
    this.channels.set(name, ch);
    this.lifecycle?.acquired(name);
    const state = ch;
    settle(
      () => this.#broker.subscribe(name),
      (position) => {
        if (this.channels.get(name) === state) this.activate(name, position);
      },
      (error) => {
        if (this.channels.get(name) !== state) return;
        this.channels.delete(name);
        this.lifecycle?.released(name);
        const waiters = state.waiters;
        state.waiters = undefined;
        if (waiters !== undefined) for (const w of waiters) w.fail(error);
      },
    );
    return ch;
  }

  /** Gives a channel back; the last one unsubscribes it at the broker. */
  release(ch: ChannelState): void {
    if (--ch.refs > 0) return;
    if (this.channels.get(ch.name) !== ch) return;
    this.channels.delete(ch.name);
    ch.pending = [];
    ch.oldestTs = 0;
    this.#broker.unsubscribe(ch.name);
    this.lifecycle?.released(ch.name);
  }

  /** The number of subscriptions on this node (every connection's channels, `*` aside). */
  get subscriptionCount(): number {
    let n = 0;
    for (const ch of this.channels.values()) n += ch.refs;
    return n;
  }

  /** Channels with local subscribers, and how many each has. */
  subscriberCounts(): Map<ChannelName, number> {
    const counts = new Map<ChannelName, number>();
    for (const [name, ch] of this.channels) counts.set(name, ch.refs);
    return counts;
  }

  /** The local subscribers of a channel (live and recovering). */
  subscribers(channel: ChannelName): Connection[] {
    const ch = this.channels.get(channel);
    if (ch === undefined) return [];
    const out = [...ch.live];
    if (ch.syncing !== undefined) for (const sub of ch.syncing) out.push(sub.conn);
    return out;
  }
}
