import type { EventEmitter } from 'node:events';
import type { Broker } from '../broker';
import type { ChannelName, PresenceMember } from '../protocol/types';
import { settle } from '../util';
import type { HubEvents } from './events';
import type { Replies } from './replies';

/**
 * The start of an occupancy key in the presence store: `#occupancy:<channel>`. `#` is outside the channel alphabet
 * (`[A-Za-z0-9_.:=@-]`), so no channel a client or a publisher can name is ever an occupancy key.
 */
export const OCCUPANCY_KEY_PREFIX = '#occupancy:';

/**
 * The one member every node's occupancy entry is filed under (the entry's connection id is the node id). The store
 * counts a member's connections, so this member's count is the number of nodes holding the channel: `joined` is the
 * first node anywhere, `left` the last one.
 */
const NODES: PresenceMember = { userId: '#nodes' };

/** The longest pause between two attempts to record a channel that the store refused (Redis away), in ms. */
const MAX_RETRY_MS = 30_000;
/** The first pause after a refused attempt, in ms (doubling up to {@link MAX_RETRY_MS}). */
const FIRST_RETRY_MS = 500;

/** The presence-store key under which the nodes holding `channel` are kept. */
export function occupancyKey(channel: ChannelName): string {
  return OCCUPANCY_KEY_PREFIX + channel;
}

/** The channel of an occupancy key (the inverse of {@link occupancyKey}), or `undefined` for any other key. */
export function channelOfOccupancyKey(key: string): ChannelName | undefined {
  return key.startsWith(OCCUPANCY_KEY_PREFIX) ? key.slice(OCCUPANCY_KEY_PREFIX.length) : undefined;
}

/** This node's occupancy of one channel. */
interface Held {
  /** The channel has local subscribers, or lost its last one less than the grace ago. */
  wanted: boolean;
  /** This node's entry is in the store, as far as the last call that completed says. */
  stored: boolean;
  /** A store call is in flight: the next one waits for it, so the store sees them in order. */
  busy: boolean;
  /** The grace after the last local subscriber left. */
  grace: NodeJS.Timeout | undefined;
  /** The pause before adding again, after the store refused an add. */
  retry: NodeJS.Timeout | undefined;
  /** Adds the store refused in a row. */
  failures: number;
}

/**
 * Cluster-wide channel occupancy: which nodes have local subscribers of a channel, kept in the broker's
 * {@link PresenceStore} under {@link occupancyKey} with this node's id as the connection. The store answers whether
 * this node was the first one anywhere (`joined`: the channel is `occupied`) or the last one (`left`: `vacated`), so
 * each cluster-wide transition is emitted as the Hub's `occupancy` event on exactly one node. A node that dies keeps
 * its entries until its lease expires; the store then removes them and the broker reports the `leave` as a `presence`
 * event, which the Hub hands to {@link fromStore} on the node that swept.
 *
 * The {@link ChannelRegistry} calls {@link acquired} when a channel gets its first local subscriber and
 * {@link released} when it loses its last one (never on the message path). A release waits `graceMs` before this
 * node's entry is removed; an acquire within it cancels the removal, and nothing is emitted.
 */
export class OccupancyTracker {
  /** `true` once the Hub is closing: removals happen at once. */
  closing = false;
  readonly #held = new Map<ChannelName, Held>();
  readonly #graceMs: number;
  readonly #nodeId: string;
  readonly #broker: Broker;
  readonly #events: EventEmitter<HubEvents>;
  readonly #replies: Replies;

  constructor(graceMs: number, nodeId: string, broker: Broker, events: EventEmitter<HubEvents>, replies: Replies) {
    this.#graceMs = graceMs;
    this.#nodeId = nodeId;
    this.#broker = broker;
    this.#events = events;
    this.#replies = replies;
  }

  /** The channels this node holds (or is about to add or remove) in the store: for diagnostics and tests. */
  get size(): number {
    return this.#held.size;
  }

  /** A channel got its first local subscriber: this node joins its occupancy (a pending removal is cancelled). */
  acquired(channel: ChannelName): void {
    let held = this.#held.get(channel);
    if (held === undefined) {
      held = { wanted: true, stored: false, busy: false, grace: undefined, retry: undefined, failures: 0 };
      this.#held.set(channel, held);
    } else {
      if (held.grace !== undefined) clearTimeout(held.grace);
      held.grace = undefined;
      held.wanted = true;
    }
    this.#sync(channel, held);
  }

  /** A channel lost its last local subscriber: this node leaves its occupancy after the grace (at once if closing). */
  released(channel: ChannelName): void {
    const held = this.#held.get(channel);
    if (held === undefined || !held.wanted || held.grace !== undefined) return;
    if (this.#graceMs === 0 || this.closing) {
      held.wanted = false;
      this.#sync(channel, held);
      return;
    }
    held.grace = setTimeout(() => {
      held.grace = undefined;
      held.wanted = false;
      this.#sync(channel, held);
    }, this.#graceMs);
    held.grace.unref();
  }

  /**
   * A change the store made by itself, reported by the broker as a `presence` event on an occupancy key: a dead
   * node's entry swept (`leave`: the channel is vacated when no node is left), or a node's entry restored after it
   * lost its lease (`join`: occupied again). Emitted whether or not this node tracks occupancy itself.
   */
  fromStore(channel: ChannelName, action: 'join' | 'leave'): void {
    this.#events.emit('occupancy', channel, action === 'join' ? 'occupied' : 'vacated');
  }

  /** Applies the removals still waiting out their grace, and removes every entry of this node: the Hub closes. */
  close(): void {
    this.closing = true;
    for (const [channel, held] of [...this.#held]) {
      if (held.grace !== undefined) clearTimeout(held.grace);
      if (held.retry !== undefined) clearTimeout(held.retry);
      held.grace = undefined;
      held.retry = undefined;
      held.wanted = false;
      this.#sync(channel, held);
    }
  }

  /** Brings the store in line with what this node wants, one call at a time per channel. */
  #sync(channel: ChannelName, held: Held): void {
    if (held.busy) return;
    if (held.wanted && !held.stored) {
      if (held.retry === undefined) this.#add(channel, held);
      return;
    }
    if (!held.wanted && held.stored) {
      this.#remove(channel, held);
      return;
    }
    if (!held.wanted && held.grace === undefined) {
      if (held.retry !== undefined) clearTimeout(held.retry);
      held.retry = undefined;
      if (this.#held.get(channel) === held) this.#held.delete(channel);
    }
  }

  #add(channel: ChannelName, held: Held): void {
    held.busy = true;
    settle(
      () => this.#broker.presence.add(occupancyKey(channel), this.#nodeId, NODES),
      (result) => {
        held.busy = false;
        held.stored = true;
        held.failures = 0;
        if (result.joined) this.#events.emit('occupancy', channel, 'occupied');
        this.#sync(channel, held);
      },
      (error) => {
        held.busy = false;
        held.failures++;
        const retry = !this.closing && held.wanted;
        const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(held.failures - 1, 16));
        this.#replies.emitError(
          storeError(
            `recording that this node has subscribers of "${channel}" failed${retry ? ` (retrying in ${delay} ms)` : ''}`,
            error,
          ),
        );
        if (retry) {
          held.retry = setTimeout(() => {
            held.retry = undefined;
            this.#sync(channel, held);
          }, delay);
          held.retry.unref();
          return;
        }
        this.#sync(channel, held);
      },
    );
  }

  #remove(channel: ChannelName, held: Held): void {
    held.busy = true;
    // whatever the answer, the entry is the store's to remove now (a store that failed retries it and reports the
    // leave as a `presence` event, see fromStore)
    held.stored = false;
    settle(
      () => this.#broker.presence.remove(occupancyKey(channel), this.#nodeId, NODES.userId),
      (result) => {
        held.busy = false;
        if (result.left) this.#events.emit('occupancy', channel, 'vacated');
        this.#sync(channel, held);
      },
      (error) => {
        held.busy = false;
        this.#replies.emitError(storeError(`removing this node from the occupancy of "${channel}" failed`, error));
        this.#sync(channel, held);
      },
    );
  }
}

/** A store failure as the Hub's `error` event reports it: what failed, why, and what to look at. */
function storeError(what: string, cause: unknown): Error {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new Error(`occupancy: ${what}: ${why}; check the broker's presence store (its Redis)`, { cause });
}
