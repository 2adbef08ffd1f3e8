import { EventEmitter } from 'node:events';
import type { HistoryStore } from './history';
import type { PublishRequest, PublishResult, StreamMessage } from './message';
import type { PresenceStore } from './presence';
import { ErrorCode } from './protocol/constants';
import { UnisocketError } from './protocol/errors';
import type { ChannelName, StreamPosition } from './protocol/types';
import { type MaybePromise, isPromiseLike, randomNodeId } from './util';
import {
  type BrokerEvents,
  type BrokerHealth,
  type BrokerHost,
  type BrokerState,
  type BrokerStats,
  type SubscriberCountFilter,
  newBrokerStats,
} from './broker/events';
import { type BrokerOptions, type ResolvedBrokerOptions, resolveBrokerOptions } from './broker/options';
import { type StreamCursor, StreamOrdering } from './broker/ordering';
import { PendingPublishes } from './broker/pending-publishes';
import { SubscriptionBatch } from './broker/subscription-batch';

export type {
  BrokerEvents,
  BrokerHealth,
  BrokerHost,
  BrokerState,
  BrokerStats,
  SubscriberCountFilter,
} from './broker/events';
export {
  type BrokerOptions,
  type ResolvedBrokerOptions,
  DEFAULT_BROKER_OPTIONS,
  resolveBrokerOptions,
} from './broker/options';

/**
 * The base of every broker: how nodes exchange the messages of the channels they have subscribers for.
 *
 * It owns the logic every backend shares — per-channel ordering by offset, dropping duplicates by id and
 * offset, filling gaps from history, batching subscription changes, a bounded publish queue while the backend
 * is unreachable, and convergence after it returns — so a backend only moves bytes:
 * `doStart`, `doPublish`, `doPublishVolatile`, `doSubscribe`, `doUnsubscribe`, `doClose`, and calls
 * {@link receive}, {@link receiveVolatile} and {@link setState}. The shared logic lives in parts under `broker/`,
 * each one concern: {@link StreamOrdering} (`ordering.ts`), {@link SubscriptionBatch} (`subscription-batch.ts`),
 * {@link PendingPublishes} (`pending-publishes.ts`).
 */
export abstract class Broker extends EventEmitter<BrokerEvents> {
  /** The backend's name: `memory`, `redis`, `kafka`. */
  abstract readonly kind: string;
  /** The channel history this broker's offsets refer to. */
  abstract readonly history: HistoryStore;
  /** Presence as wide as this broker reaches (one node for memory, the cluster for Redis). */
  abstract readonly presence: PresenceStore;

  /** This node's id. */
  readonly nodeId: string;
  /** Counters (read by monitoring). */
  readonly stats: BrokerStats = newBrokerStats();

  /**
   * `true` when a channel's offsets are consecutive (n+1 follows n), so a skipped number is a gap to fill.
   * Kafka's partition offsets are shared by several channels and skip numbers: it sets `false`.
   */
  protected readonly contiguousOffsets: boolean = true;
  /**
   * `true` when subscription changes cost a round trip: they are then collected for one tick and sent as
   * one batch. The memory broker applies them at once.
   */
  protected readonly batchSubscriptions: boolean = true;
  /**
   * `true` when the node may have missed messages while the backend was away (pub/sub that drops what is sent while
   * a node is disconnected): going back to `ready` then re-checks every channel against history. A backend whose
   * reader resumes exactly where it stopped (a Kafka consumer at its offset) sets `false` and calls {@link recheck}
   * itself for the channels it knows it skipped.
   */
  protected readonly convergeAfterOutage: boolean = true;

  /** The resolved options; `dedupeWindow` is the deprecated name of `deliveredIdsWindow` (same value). */
  protected readonly options: ResolvedBrokerOptions;

  #host: BrokerHost | undefined;
  #state: BrokerState = 'connecting';
  #stateSince = Date.now();
  #stateDetail: string | undefined;
  #everReady = false;
  readonly #streams: StreamOrdering;
  readonly #subscriptions: SubscriptionBatch;
  readonly #pending: PendingPublishes;

  constructor(options: BrokerOptions = {}) {
    super();
    this.nodeId = options.nodeId ?? randomNodeId();
    this.options = resolveBrokerOptions(options);
    // a backend's fields (history, contiguousOffsets, batchSubscriptions) are set after this constructor: the parts
    // read them through getters when they need them
    const broker = this;
    this.#streams = new StreamOrdering(
      {
        get history() {
          return broker.history;
        },
        get contiguousOffsets() {
          return broker.contiguousOffsets;
        },
        reportError: (error) => this.#emitError(error),
      },
      this.stats,
      this.options,
    );
    this.#subscriptions = new SubscriptionBatch({
      get batchSubscriptions() {
        return broker.batchSubscriptions;
      },
      subscribe: (channels) => this.doSubscribe(channels),
      unsubscribe: (channels) => this.doUnsubscribe(channels),
      wants: (channel) => this.#streams.get(channel) !== undefined,
    });
    this.#pending = new PendingPublishes(this, this.options, this.stats);
  }

  /** The current state. */
  get state(): BrokerState {
    return this.#state;
  }

  /** Channels this node is subscribed to at the backend. */
  get channels(): ReadonlySet<ChannelName> {
    return this.#subscriptions.active;
  }

  /** The broker's health for `/health`. */
  health(): BrokerHealth {
    const health: BrokerHealth = { kind: this.kind, state: this.#state, since: this.#stateSince };
    if (this.#stateDetail !== undefined) health.detail = this.#stateDetail;
    return health;
  }

  /** Connects the broker to the Hub it delivers into. Called once by the Hub. */
  attach(host: BrokerHost): void {
    if (this.#host !== undefined && this.#host !== host) {
      throw new TypeError('this broker is already attached to another Hub: create one broker per Hub');
    }
    this.#host = host;
    this.#streams.host = host;
  }

  /** Connects to the backend. Resolves when ready; rejects with a clear error when it cannot start. */
  async start(): Promise<void> {
    if (this.#state === 'closed') throw new UnisocketError(ErrorCode.UNAVAILABLE, `${this.kind} broker is closed`);
    await this.doStart();
    if (this.#state === 'connecting') this.setState('ready');
  }

  /**
   * Publishes a message to every node subscribed to its channel (this one included) and assigns its offset.
   * Throws (or rejects) a {@link UnisocketError} `UNAVAILABLE` when the backend is unreachable and the queue is full.
   */
  publish(request: PublishRequest): MaybePromise<PublishResult> {
    switch (this.#state) {
      case 'closed':
        this.stats.refusedPublishes++;
        throw new UnisocketError(ErrorCode.UNAVAILABLE, `the ${this.kind} broker is closed`);
      case 'ready':
        this.stats.published++;
        return this.doPublish(request);
      default:
        return this.#pending.enqueue(request);
    }
  }

  /** Sends an unsequenced event to every node subscribed to the channel (this one included). */
  publishVolatile(channel: ChannelName, line: string): void {
    if (this.#state === 'closed') return;
    try {
      this.doPublishVolatile(channel, line);
    } catch (error) {
      this.#emitError(error);
    }
  }

  /**
   * Starts receiving a channel. Resolves with the position after which every message will be dispatched,
   * in order. The Hub calls it once when a channel gets its first local subscriber.
   */
  subscribe(channel: ChannelName): MaybePromise<StreamPosition> {
    const streams = this.#streams;
    const existing = streams.get(channel);
    if (existing !== undefined) {
      if (existing.ready) return { epoch: existing.epoch, offset: existing.last };
      return streams.whenReady(existing);
    }
    const cursor = streams.open(channel);
    const synced = this.#subscriptions.change(channel, true);
    const afterSync = (): MaybePromise<StreamPosition> => {
      if (!streams.isCurrent(channel, cursor)) {
        throw new UnisocketError(ErrorCode.UNAVAILABLE, `subscription to "${channel}" was cancelled`);
      }
      const position = this.history.position(channel);
      if (isPromiseLike(position)) return position.then((p) => streams.activate(channel, cursor, p));
      return streams.activate(channel, cursor, position);
    };
    if (synced === undefined) {
      try {
        return afterSync();
      } catch (error) {
        this.#dropCursor(channel, cursor, error);
        throw error;
      }
    }
    return synced.then(afterSync).catch((error: unknown) => {
      this.#dropCursor(channel, cursor, error);
      throw error;
    });
  }

  /** Stops receiving a channel (its last local subscriber left). */
  unsubscribe(channel: ChannelName): void {
    const cursor = this.#streams.get(channel);
    if (cursor === undefined) return;
    this.#dropCursor(channel, cursor, new UnisocketError(ErrorCode.UNAVAILABLE, `unsubscribed from "${channel}"`));
  }

  /**
   * Subscriber counts per channel, as wide as this broker reaches: channels without subscribers are left out.
   * `filter` narrows the answer to some channel names or to the names starting with a prefix.
   *
   * The default answers this node's counts (asked of the Hub on demand, {@link BrokerHost.subscriberCounts}); a
   * backend that reaches other nodes overrides it to add theirs — the memory broker sums every Hub on its bus, the
   * Redis broker asks every live node. Meant for occasional queries (an HTTP API), not for the message path.
   */
  subscriberCounts(filter?: SubscriberCountFilter): Promise<Map<ChannelName, number>> {
    return Promise.resolve(this.localSubscriberCounts(filter));
  }

  /** This node's subscriber counts per channel (see {@link subscriberCounts}), asked of the Hub now. */
  protected localSubscriberCounts(filter?: SubscriberCountFilter): Map<ChannelName, number> {
    const counts = this.#host?.subscriberCounts?.();
    const out = new Map<ChannelName, number>();
    if (counts === undefined) return out;
    if (filter === undefined || !Array.isArray(filter)) {
      const prefix = filter === undefined ? '' : (filter as { prefix: string }).prefix;
      for (const [channel, count] of counts) {
        if (count > 0 && channel.startsWith(prefix)) out.set(channel, count);
      }
      return out;
    }
    for (const channel of filter as readonly ChannelName[]) {
      const count = counts.get(channel);
      if (count !== undefined && count > 0) out.set(channel, count);
    }
    return out;
  }

  /** Disconnects from the backend; queued publishes are refused. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.setState('closed');
    for (const [channel, cursor] of [...this.#streams.entries()]) {
      this.#dropCursor(channel, cursor, new UnisocketError(ErrorCode.UNAVAILABLE, `the ${this.kind} broker is closed`));
    }
    this.#pending.refuseAll(`the ${this.kind} broker is closed`);
    await this.doClose();
  }

  // ------------------------------------------------------------------------------------------------
  // backend hooks
  // ------------------------------------------------------------------------------------------------

  /** Connects to the backend. */
  protected abstract doStart(): Promise<void>;
  /** Appends to the channel's history, assigning the offset, and sends to the nodes subscribed to the channel. */
  protected abstract doPublish(request: PublishRequest): MaybePromise<PublishResult>;
  /** Sends an unsequenced line to the nodes subscribed to the channel. */
  protected abstract doPublishVolatile(channel: ChannelName, line: string): void;
  /** Subscribes this node to channels at the backend. */
  protected abstract doSubscribe(channels: ChannelName[]): MaybePromise<void>;
  /** Unsubscribes this node from channels at the backend. */
  protected abstract doUnsubscribe(channels: ChannelName[]): MaybePromise<void>;
  /** Disconnects from the backend. */
  protected abstract doClose(): Promise<void>;

  // ------------------------------------------------------------------------------------------------
  // called by backends
  // ------------------------------------------------------------------------------------------------

  /** A message arrived from the backend. Duplicates and messages of channels without subscribers are dropped. */
  protected receive(message: StreamMessage): void {
    this.stats.received++;
    this.#streams.receive(message);
  }

  /** An unsequenced event arrived from the backend. */
  protected receiveVolatile(channel: ChannelName, line: string): void {
    this.#streams.receiveVolatile(channel, line);
  }

  /**
   * Reports the backend's state. Going back to `ready` after an outage re-checks every channel against
   * history (filling what was missed, resyncing what was lost) and flushes queued publishes.
   */
  protected setState(state: BrokerState, detail?: string): void {
    if (this.#state === 'closed' && state !== 'closed') return;
    const previous = this.#state;
    this.#stateDetail = detail;
    if (previous === state) return;
    this.#state = state;
    this.#stateSince = Date.now();
    if (state === 'ready') {
      const wasReady = this.#everReady;
      this.#everReady = true;
      if (wasReady && this.convergeAfterOutage) this.#streams.converge();
      if (this.#pending.size > 0) {
        this.#pending.flush((request) => {
          this.stats.published++;
          return this.doPublish(request);
        });
      }
    }
    this.emit('state', state, detail);
  }

  /**
   * The backend knows it may have missed messages of some channels (its reader skipped records): compares those
   * channels (all subscribed ones when no filter is given) with history, filling what is there and resyncing what is
   * lost, exactly as after an outage.
   */
  protected recheck(filter?: (channel: ChannelName) => boolean): void {
    this.#streams.converge(filter);
  }

  #dropCursor(channel: ChannelName, cursor: StreamCursor, reason: unknown): void {
    if (!this.#streams.close(channel, cursor, reason)) return;
    if (this.#state === 'closed') {
      this.#subscriptions.forget(channel);
      return;
    }
    this.#subscriptions.change(channel, false)?.catch((error: unknown) => this.#emitError(error));
  }

  #emitError(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
