import type { StreamMessage } from '../message';
import type { ChannelName, PresenceMember, StreamPosition } from '../protocol/types';

/**
 * - `connecting`: not ready yet (startup);
 * - `ready`: connected, publishes flow;
 * - `degraded`: the backend is unreachable: local connections keep working, publishes wait in a bounded queue
 *   (or are refused with `UNAVAILABLE` when it is full), and everything converges when it returns;
 * - `closed`: shut down.
 */
export type BrokerState = 'connecting' | 'ready' | 'degraded' | 'closed';

/** What a broker delivers into: the Hub of its node. */
export interface BrokerHost {
  /** The next message of a channel the host subscribed to: in offset order, each message once. */
  dispatch(message: StreamMessage): void;
  /** An unsequenced event for a channel's subscribers (presence join/leave). */
  dispatchVolatile(channel: ChannelName, line: string): void;
  /**
   * The channel's stream cannot continue where this node was: its epoch changed (history lost) or a gap could
   * not be filled from history. Delivery continues after `position`; subscribers must be told they missed messages.
   */
  resync(channel: ChannelName, position: StreamPosition): void;
  /**
   * The broker has the channel's starting position: every message after it follows through {@link dispatch}, in
   * order. Called once per subscription, before any message of the channel is dispatched — messages that arrived
   * while the position was being read included — so the host starts the channel exactly there.
   */
  activate?(channel: ChannelName, position: StreamPosition): void;
  /**
   * This node's subscriber count per channel (channels without local subscribers left out). Asked on demand only —
   * by {@link Broker.subscriberCounts}, never on the message path — so keeping it costs the host nothing.
   */
  subscriberCounts?(): ReadonlyMap<ChannelName, number>;
}

/** Which channels {@link Broker.subscriberCounts} answers for: these names, or the names starting with `prefix`. */
export type SubscriberCountFilter = readonly ChannelName[] | { prefix: string };

/** Counters kept by every broker (read by monitoring). */
export interface BrokerStats {
  /** Publishes handed to the backend. */
  published: number;
  /** Messages received from the backend (before dedup). */
  received: number;
  /** Messages dropped because they were already delivered (same id or an old offset). */
  duplicates: number;
  /** Gaps filled from history. */
  gapsFilled: number;
  /** Gaps that history could not fill (subscribers were told with a resync). */
  gapsLost: number;
  /** Epoch changes seen (history lost in the backend). */
  resyncs: number;
  /** Publishes refused with `UNAVAILABLE` (queue full, timed out, or closed). */
  refusedPublishes: number;
  /** Publishes waiting for the backend right now. */
  pendingPublishes: number;
}

/** @internal zeroed {@link BrokerStats} */
export function newBrokerStats(): BrokerStats {
  return {
    published: 0,
    received: 0,
    duplicates: 0,
    gapsFilled: 0,
    gapsLost: 0,
    resyncs: 0,
    refusedPublishes: 0,
    pendingPublishes: 0,
  };
}

/** The health of a broker. */
export interface BrokerHealth {
  kind: string;
  state: BrokerState;
  /** Since when (epoch ms) the broker is in this state. */
  since: number;
  /** Why it is in this state (the last backend error, when degraded). */
  detail?: string;
}

/** Events of a broker. */
export interface BrokerEvents {
  state: [state: BrokerState, detail: string | undefined];
  /** A backend error that the broker handled (it never throws them at the Hub). */
  error: [error: Error];
  /**
   * A presence change that the backend found by itself rather than through this node's Hub — e.g. the members of
   * a crashed node removed once its lease expired, or members restored after an outage. The Hub announces it to
   * the channel's subscribers on every node (through `Broker.publishVolatile`) exactly as its own changes.
   */
  presence: [channel: ChannelName, action: 'join' | 'leave', member: PresenceMember];
}
