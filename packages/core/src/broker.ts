import { EventEmitter } from 'node:events';
import type { HistoryStore } from './history';
import type { PublishRequest, PublishResult, StreamMessage } from './message';
import type { PresenceStore } from './presence';
import { ErrorCode } from './protocol/constants';
import { UnisocketError } from './protocol/errors';
import type { ChannelName, PresenceMember, StreamPosition } from './protocol/types';
import { IdWindow, type MaybePromise, isPromiseLike, randomNodeId, settle } from './util';

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
}

/** Options shared by every broker. */
export interface BrokerOptions {
  /**
   * This node's id, unique in the cluster. The service passes its own.
   * @default a random 8-character id
   */
  nodeId?: string;
  /**
   * How many recent message ids are remembered to drop a message delivered twice (maps `DEDUPE_CACHE_SIZE`).
   * @default 10_000
   */
  dedupeWindow?: number;
  /**
   * While the backend is unreachable, publishes wait in a queue of at most this many; beyond it they are refused
   * with `UNAVAILABLE`. `0` refuses at once.
   * @default 1_000
   */
  maxPendingPublishes?: number;
  /**
   * How long a queued publish may wait for the backend before it is refused with `UNAVAILABLE`, in ms.
   * @default 10_000
   */
  pendingPublishTimeoutMs?: number;
  /**
   * How long a message that arrived ahead of a missing one is held before the gap is filled from history, in ms.
   * @default 100
   */
  gapTimeoutMs?: number;
  /**
   * The most messages held per channel while waiting for a gap to fill; past it the gap is filled at once.
   * @default 10_000
   */
  maxHeldMessages?: number;
}

/** Defaults of {@link BrokerOptions} (the node id aside). */
export const DEFAULT_BROKER_OPTIONS = {
  dedupeWindow: 10_000,
  maxPendingPublishes: 1_000,
  pendingPublishTimeoutMs: 10_000,
  gapTimeoutMs: 100,
  maxHeldMessages: 10_000,
} as const satisfies Omit<Required<BrokerOptions>, 'nodeId'>;

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
   * the channel's subscribers on every node (through {@link Broker.publishVolatile}) exactly as its own changes.
   */
  presence: [channel: ChannelName, action: 'join' | 'leave', member: PresenceMember];
}

class Cursor {
  ready = false;
  epoch = '';
  last = 0;
  held: StreamMessage[] = [];
  gapTimer: NodeJS.Timeout | undefined;
  filling = false;
  waiters: { resolve: (position: StreamPosition) => void; reject: (error: unknown) => void }[] | undefined;
}

interface PendingPublish {
  request: PublishRequest;
  resolve: (result: PublishResult) => void;
  reject: (error: unknown) => void;
  deadline: number;
}

/**
 * The base of every broker: how nodes exchange the messages of the channels they have subscribers for.
 *
 * It owns the logic every backend shares — per-channel ordering by offset, dropping duplicates by id and
 * offset, filling gaps from history, batching subscription changes, a bounded publish queue while the backend
 * is unreachable, and convergence after it returns — so a backend only moves bytes:
 * `doStart`, `doPublish`, `doPublishVolatile`, `doSubscribe`, `doUnsubscribe`, `doClose`, and calls
 * {@link receive}, {@link receiveVolatile} and {@link setState}.
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
  readonly stats: BrokerStats = {
    published: 0,
    received: 0,
    duplicates: 0,
    gapsFilled: 0,
    gapsLost: 0,
    resyncs: 0,
    refusedPublishes: 0,
    pendingPublishes: 0,
  };

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

  protected readonly options: Omit<Required<BrokerOptions>, 'nodeId'>;

  #host: BrokerHost | undefined;
  #state: BrokerState = 'connecting';
  #stateSince = Date.now();
  #stateDetail: string | undefined;
  #everReady = false;
  readonly #cursors = new Map<ChannelName, Cursor>();
  readonly #seen: IdWindow;

  // subscription changes waiting for the next batch: channel -> wanted
  readonly #changes = new Map<ChannelName, boolean>();
  readonly #active = new Set<ChannelName>();
  #nextSync: Promise<void> | undefined;
  #lastSync: Promise<void> = Promise.resolve();

  readonly #pending: PendingPublish[] = [];
  #pendingTimer: NodeJS.Timeout | undefined;

  constructor(options: BrokerOptions = {}) {
    super();
    this.nodeId = options.nodeId ?? randomNodeId();
    this.options = resolveBrokerOptions(options);
    this.#seen = new IdWindow(this.options.dedupeWindow);
  }

  /** The current state. */
  get state(): BrokerState {
    return this.#state;
  }

  /** Channels this node is subscribed to at the backend. */
  get channels(): ReadonlySet<ChannelName> {
    return this.#active;
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
        return this.#enqueue(request);
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
    const existing = this.#cursors.get(channel);
    if (existing !== undefined) {
      if (existing.ready) return { epoch: existing.epoch, offset: existing.last };
      return new Promise((resolve, reject) => (existing.waiters ??= []).push({ resolve, reject }));
    }
    const cursor = new Cursor();
    this.#cursors.set(channel, cursor);
    this.#changes.set(channel, true);
    const synced = this.#syncSubscriptions();
    const afterSync = (): MaybePromise<StreamPosition> => {
      if (this.#cursors.get(channel) !== cursor) {
        throw new UnisocketError(ErrorCode.UNAVAILABLE, `subscription to "${channel}" was cancelled`);
      }
      const position = this.history.position(channel);
      if (isPromiseLike(position)) return position.then((p) => this.#makeReady(channel, cursor, p));
      return this.#makeReady(channel, cursor, position);
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
    const cursor = this.#cursors.get(channel);
    if (cursor === undefined) return;
    this.#dropCursor(channel, cursor, new UnisocketError(ErrorCode.UNAVAILABLE, `unsubscribed from "${channel}"`));
  }

  /** Disconnects from the backend; queued publishes are refused. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.setState('closed');
    for (const [channel, cursor] of this.#cursors) {
      this.#dropCursor(channel, cursor, new UnisocketError(ErrorCode.UNAVAILABLE, `the ${this.kind} broker is closed`));
    }
    this.#refusePending(() => true, `the ${this.kind} broker is closed`);
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
    const cursor = this.#cursors.get(message.channel);
    if (cursor === undefined) return;
    if (!this.#seen.add(message.id)) {
      this.stats.duplicates++;
      return;
    }
    if (!cursor.ready) {
      this.#hold(message.channel, cursor, message);
      return;
    }
    this.#accept(message.channel, cursor, message);
  }

  /** An unsequenced event arrived from the backend. */
  protected receiveVolatile(channel: ChannelName, line: string): void {
    if (this.#cursors.get(channel)?.ready === true) this.#host?.dispatchVolatile(channel, line);
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
      if (wasReady && this.convergeAfterOutage) this.#converge();
      this.#flushPending();
    }
    this.emit('state', state, detail);
  }

  /**
   * The backend knows it may have missed messages of some channels (its reader skipped records): compares those
   * channels (all subscribed ones when no filter is given) with history, filling what is there and resyncing what is
   * lost, exactly as after an outage.
   */
  protected recheck(filter?: (channel: ChannelName) => boolean): void {
    this.#converge(filter);
  }

  // ------------------------------------------------------------------------------------------------
  // ordering
  // ------------------------------------------------------------------------------------------------

  #makeReady(channel: ChannelName, cursor: Cursor, position: StreamPosition): StreamPosition {
    if (this.#cursors.get(channel) !== cursor) {
      throw new UnisocketError(ErrorCode.UNAVAILABLE, `subscription to "${channel}" was cancelled`);
    }
    cursor.ready = true;
    cursor.epoch = position.epoch;
    cursor.last = position.offset;
    // the host takes the position before the held messages are dispatched: they follow it, none is dropped
    this.#host?.activate?.(channel, position);
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

  #accept(channel: ChannelName, cursor: Cursor, message: StreamMessage): void {
    if (message.epoch !== cursor.epoch) {
      // the backend lost this channel's history and started a new epoch: offsets restart
      this.stats.resyncs++;
      cursor.epoch = message.epoch;
      cursor.last = 0;
      cursor.held = cursor.held.filter((m) => m.epoch === message.epoch);
      this.#host?.resync(channel, { epoch: message.epoch, offset: 0 });
    }
    if (message.offset <= cursor.last) {
      this.stats.duplicates++;
      return;
    }
    if (!this.contiguousOffsets || message.offset === cursor.last + 1) {
      this.#deliver(cursor, message);
      if (cursor.held.length > 0) this.#drainHeld(channel, cursor);
      return;
    }
    this.#hold(channel, cursor, message);
    this.#scheduleGapFill(channel, cursor);
  }

  #deliver(cursor: Cursor, message: StreamMessage): void {
    cursor.last = message.offset;
    this.#host?.dispatch(message);
  }

  #hold(channel: ChannelName, cursor: Cursor, message: StreamMessage): void {
    const held = cursor.held;
    // keep held sorted: messages mostly arrive in order, so this is an append
    let i = held.length;
    while (i > 0 && held[i - 1]!.offset > message.offset) i--;
    held.splice(i, 0, message);
    if (held.length > this.options.maxHeldMessages) {
      if (cursor.ready) this.#fillGap(channel, cursor);
      else held.shift(); // not subscribed yet: the oldest would be before the baseline anyway
    }
  }

  #drainHeld(channel: ChannelName, cursor: Cursor): void {
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

  #scheduleGapFill(channel: ChannelName, cursor: Cursor): void {
    if (cursor.gapTimer !== undefined || cursor.filling) return;
    cursor.gapTimer = setTimeout(() => {
      cursor.gapTimer = undefined;
      this.#fillGap(channel, cursor);
    }, this.options.gapTimeoutMs);
    cursor.gapTimer.unref();
  }

  /** Reads what this node missed of a channel from history and delivers it; resyncs what is gone. */
  #fillGap(channel: ChannelName, cursor: Cursor): void {
    if (cursor.filling || this.#cursors.get(channel) !== cursor) return;
    if (cursor.gapTimer !== undefined) {
      clearTimeout(cursor.gapTimer);
      cursor.gapTimer = undefined;
    }
    cursor.filling = true;
    const from = { epoch: cursor.epoch, offset: cursor.last };
    settle(
      () => this.history.read(channel, from),
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
          this.stats.resyncs++;
          cursor.epoch = read.position.epoch;
          cursor.last = 0;
          cursor.held = cursor.held.filter((m) => m.epoch === read.position.epoch);
          this.#host?.resync(channel, { epoch: read.position.epoch, offset: 0 });
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
          this.stats.gapsLost++;
          const next =
            read.messages.find((m) => m.offset > cursor.last) ?? cursor.held.find((m) => m.epoch === cursor.epoch);
          cursor.last = next !== undefined ? next.offset - 1 : read.position.offset;
          cursor.held = cursor.held.filter((m) => m.epoch === cursor.epoch);
          this.#host?.resync(channel, { epoch: cursor.epoch, offset: cursor.last });
        }
        let filled = false;
        for (const message of read.messages) {
          if (message.offset <= cursor.last) continue;
          if (this.contiguousOffsets && message.offset !== cursor.last + 1) break;
          this.#seen.add(message.id);
          this.#deliver(cursor, message);
          filled = true;
        }
        if (filled && read.complete) this.stats.gapsFilled++;
        this.#drainHeld(channel, cursor);
      },
      (error) => {
        cursor.filling = false;
        this.#emitError(error);
        if (this.#cursors.get(channel) === cursor && cursor.held.length > 0) this.#scheduleGapFill(channel, cursor);
      },
    );
  }

  /** After an outage: every channel is compared with history, missed messages are filled, lost ones resynced. */
  #converge(filter?: (channel: ChannelName) => boolean): void {
    for (const [channel, cursor] of this.#cursors) {
      if (!cursor.ready || (filter !== undefined && !filter(channel))) continue;
      settle(
        () => this.history.position(channel),
        (position) => {
          if (this.#cursors.get(channel) !== cursor) return;
          if (position.epoch !== cursor.epoch || position.offset > cursor.last) this.#fillGap(channel, cursor);
        },
        (error) => this.#emitError(error),
      );
    }
  }

  // ------------------------------------------------------------------------------------------------
  // subscriptions
  // ------------------------------------------------------------------------------------------------

  #dropCursor(channel: ChannelName, cursor: Cursor, reason: unknown): void {
    if (this.#cursors.get(channel) !== cursor) return;
    this.#cursors.delete(channel);
    if (cursor.gapTimer !== undefined) clearTimeout(cursor.gapTimer);
    const waiters = cursor.waiters;
    cursor.waiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w.reject(reason);
    if (this.#state === 'closed') {
      this.#changes.delete(channel);
      this.#active.delete(channel);
      return;
    }
    this.#changes.set(channel, false);
    const synced = this.#syncSubscriptions();
    synced?.catch((error: unknown) => this.#emitError(error));
  }

  /** Applies collected subscription changes: at once (memory), or batched per tick (network backends). */
  #syncSubscriptions(): Promise<void> | undefined {
    if (!this.batchSubscriptions) {
      const result = this.#applyChanges();
      return result === undefined ? undefined : result;
    }
    if (this.#nextSync === undefined) {
      this.#nextSync = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.#nextSync = undefined;
          // batches run one after the other so a subscribe never overtakes an earlier unsubscribe
          const run = this.#lastSync.then(() => this.#applyChanges());
          this.#lastSync = run.then(noop, noop);
          run.then(resolve, reject);
        });
      });
    }
    return this.#nextSync;
  }

  #applyChanges(): Promise<void> | undefined {
    const add: ChannelName[] = [];
    const remove: ChannelName[] = [];
    for (const [channel, wanted] of this.#changes) {
      if (wanted && !this.#active.has(channel)) {
        this.#active.add(channel);
        add.push(channel);
      } else if (!wanted && this.#active.has(channel)) {
        this.#active.delete(channel);
        remove.push(channel);
      }
    }
    this.#changes.clear();
    const rollback = (error: unknown): never => {
      for (const channel of add) if (!this.#cursors.has(channel)) this.#active.delete(channel);
      throw error;
    };
    const unsubscribed = remove.length > 0 ? this.doUnsubscribe(remove) : undefined;
    const subscribe = (): MaybePromise<void> => (add.length > 0 ? this.doSubscribe(add) : undefined);
    if (isPromiseLike(unsubscribed)) {
      return unsubscribed.then(subscribe).then(noop, rollback);
    }
    let subscribed: MaybePromise<void>;
    try {
      subscribed = subscribe();
    } catch (error) {
      rollback(error);
    }
    return isPromiseLike(subscribed!) ? subscribed.then(noop, rollback) : undefined;
  }

  // ------------------------------------------------------------------------------------------------
  // publishes while the backend is away
  // ------------------------------------------------------------------------------------------------

  #enqueue(request: PublishRequest): Promise<PublishResult> {
    if (this.#pending.length >= this.options.maxPendingPublishes) {
      this.stats.refusedPublishes++;
      return Promise.reject(
        new UnisocketError(
          ErrorCode.UNAVAILABLE,
          `the ${this.kind} broker is ${this.#state} and ${this.#pending.length} publishes are already waiting; retry later`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ request, resolve, reject, deadline: Date.now() + this.options.pendingPublishTimeoutMs });
      this.stats.pendingPublishes = this.#pending.length;
      if (this.#pendingTimer === undefined) {
        this.#pendingTimer = setInterval(
          () => this.#refusePending((p) => p.deadline <= Date.now(), `the ${this.kind} broker did not come back in time`),
          Math.min(1000, this.options.pendingPublishTimeoutMs),
        );
        this.#pendingTimer.unref();
      }
    });
  }

  #flushPending(): void {
    const pending = this.#pending.splice(0);
    this.#stopPendingTimer();
    for (const p of pending) {
      this.stats.published++;
      settle(() => this.doPublish(p.request), p.resolve, p.reject);
    }
  }

  #refusePending(predicate: (p: PendingPublish) => boolean, message: string): void {
    for (let i = 0; i < this.#pending.length; ) {
      const p = this.#pending[i]!;
      if (predicate(p)) {
        this.#pending.splice(i, 1);
        this.stats.refusedPublishes++;
        p.reject(new UnisocketError(ErrorCode.UNAVAILABLE, message));
      } else {
        i++;
      }
    }
    if (this.#pending.length === 0) this.#stopPendingTimer();
  }

  #stopPendingTimer(): void {
    this.stats.pendingPublishes = this.#pending.length;
    if (this.#pendingTimer !== undefined && this.#pending.length === 0) {
      clearInterval(this.#pendingTimer);
      this.#pendingTimer = undefined;
    }
  }

  #emitError(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

/** Validates broker options, throwing a `TypeError` that says what to change. */
export function resolveBrokerOptions(options: BrokerOptions): Omit<Required<BrokerOptions>, 'nodeId'> {
  const resolved = { ...DEFAULT_BROKER_OPTIONS } as { -readonly [K in keyof typeof DEFAULT_BROKER_OPTIONS]: number };
  for (const key of Object.keys(DEFAULT_BROKER_OPTIONS) as (keyof typeof DEFAULT_BROKER_OPTIONS)[]) {
    const value = options[key];
    if (value === undefined) continue;
    const min = key === 'maxPendingPublishes' ? 0 : 1;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || !Number.isInteger(value)) {
      throw new TypeError(`broker option ${key} must be an integer >= ${min}, got ${String(value)}`);
    }
    resolved[key] = value;
  }
  return resolved;
}

function byOffset(a: StreamMessage, b: StreamMessage): number {
  return a.offset - b.offset;
}

function noop(): void {}
