import type { ChannelPolicy } from './backpressure';
import type { Connection } from './connection';
import type { Deliverable } from './message';
import type { ChannelKind } from './protocol/channel';
import type { ChannelName, PresenceMember, Ref, ServerFrame } from './protocol/types';

/**
 * A channel that has local subscribers: who gets its messages and where its stream stands on this node.
 * @internal
 */
export class ChannelState {
  /** Subscribers receiving live batches. */
  readonly live: Set<Connection>;
  /** Subscribers still replaying history; they receive live messages into their own buffer. */
  syncing: Set<Subscription> | undefined = undefined;
  /** Subscriptions holding the channel (pending, syncing, live). At zero the channel is released. */
  refs = 0;
  /** The stream's epoch on this node. */
  epoch = '';
  /** The offset of the last message written to the live subscribers. */
  flushed = 0;
  /** `true` once the broker subscription is in place and `epoch`/`flushed` are known. */
  active = false;
  /** Callbacks waiting for activation. */
  waiters: { ok: () => void; fail: (error: unknown) => void }[] | undefined = undefined;
  /** What arrived since the last flush. */
  pending: Deliverable[] = [];
  /** `true` while queued for the next flush. */
  dirty = false;
  /** Publish time (`ts`) of the oldest stream message in `pending`, `0` when none (publish→flush latency). */
  oldestTs = 0;

  constructor(
    readonly name: ChannelName,
    readonly kind: ChannelKind,
    /** The channel's backpressure policy; `null` for `disconnect` (the plain delivery path). */
    readonly policy: ChannelPolicy | null,
    live?: Set<Connection>,
  ) {
    this.live = live ?? new Set();
  }
}

/**
 * One connection's subscription to one channel.
 * - `pending`: being authorized, or waiting for the channel to activate;
 * - `syncing`: replaying history; live messages are buffered and sent once it has caught up;
 * - `live`: in the channel's live set;
 * - `closed`: unsubscribed.
 * @internal
 */
export class Subscription {
  state: 'pending' | 'syncing' | 'live' | 'closed' = 'pending';
  channel: ChannelState | undefined = undefined;
  /** Offset of the last message sent to this subscriber (filters the seam between replay and live). */
  lastSent = 0;
  /** Live messages received while syncing. */
  buffer: Deliverable[] | undefined = undefined;
  /** `true` once the history replay was written. */
  replayed = false;
  /** The presence member this subscription added, when on a presence channel. */
  member: PresenceMember | undefined = undefined;
  /**
   * The reply the subscribe command is still owed (its ref and the reply callback), until it is acked or refused;
   * a subscription ended before then (unsubscribed while authorizing or replaying) answers it with an error.
   */
  owed: { ref: Ref | undefined; reply: ((frame: ServerFrame) => void) | undefined } | undefined = undefined;

  constructor(
    readonly conn: Connection,
    readonly name: ChannelName,
  ) {}
}

/**
 * A connection's subscriptions by channel: the subset of `Map` the Hub uses, on a plain array. A connection holds a
 * handful of subscriptions (at most `limits.maxSubscriptionsPerConnection`), where a linear scan is as fast as hashing,
 * and an idle connection with one subscription costs ~150 bytes less than with a `Map`.
 * @internal
 */
export class SubscriptionList {
  // created with its first element: `[]` followed by a push would allocate room for 17
  #items: Subscription[];

  constructor(first: Subscription) {
    this.#items = [first];
  }

  get size(): number {
    return this.#items.length;
  }

  get(name: ChannelName): Subscription | undefined {
    const items = this.#items;
    for (let i = 0; i < items.length; i++) if (items[i]!.name === name) return items[i];
    return undefined;
  }

  has(name: ChannelName): boolean {
    return this.get(name) !== undefined;
  }

  /** Adds `sub`, replacing the subscription of the same channel if there is one. */
  set(name: ChannelName, sub: Subscription): this {
    const items = this.#items;
    for (let i = 0; i < items.length; i++) {
      if (items[i]!.name === name) {
        items[i] = sub;
        return this;
      }
    }
    items.push(sub);
    return this;
  }

  delete(name: ChannelName): boolean {
    const items = this.#items;
    for (let i = 0; i < items.length; i++) {
      if (items[i]!.name === name) {
        items.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  keys(): IterableIterator<ChannelName> {
    return this.#items.map((sub) => sub.name).values();
  }

  values(): IterableIterator<Subscription> {
    return this.#items.values();
  }
}
