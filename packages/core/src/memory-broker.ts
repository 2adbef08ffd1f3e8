import { LRUCache } from '@unisocket/memory';
import { Broker, type BrokerOptions, type SubscriberCountFilter } from './broker';
import { renamedOption } from './deprecation';
import { type HistoryOptions, MemoryHistoryStore } from './history';
import type { PublishRequest, PublishResult, StreamMessage } from './message';
import { MemoryPresenceStore } from './presence';
import type { ChannelName } from './protocol/types';

/** Options of {@link MemoryBus}. */
export interface MemoryBusOptions {
  /** Per-channel history bounds. */
  history?: HistoryOptions;
  /**
   * How many publish idempotency keys (publisher-given `id`s) are remembered at most: a repeat of one is answered
   * with the original offset (`duplicate: true`) instead of being published again. A count.
   * @default 10_000
   */
  idempotencyCacheSize?: number;
  /**
   * How long a publish idempotency key is remembered, in ms.
   * @default 60_000
   */
  idempotencyWindowMs?: number;
  /** @deprecated Use {@link idempotencyCacheSize} (a one-time `DeprecationWarning`). */
  dedupeCacheSize?: number;
  /** @deprecated Use {@link idempotencyWindowMs} (a one-time `DeprecationWarning`). */
  dedupeWindowMs?: number;
}

/** Defaults of {@link MemoryBusOptions} (history aside). */
export const DEFAULT_MEMORY_BUS_OPTIONS = {
  idempotencyCacheSize: 10_000,
  idempotencyWindowMs: 60_000,
} as const;

/**
 * The in-process "network" between {@link MemoryBroker}s: one history, one presence, every node attached.
 * One bus with one broker is the embedded default; one bus shared by several brokers runs several Hubs in one
 * process, which is how the shared broker logic is tested.
 */
export class MemoryBus {
  readonly history: MemoryHistoryStore;
  readonly presence = new MemoryPresenceStore();
  readonly #nodes = new Set<MemoryBroker>();
  readonly #idempotency: LRUCache<string, PublishResult>;

  constructor(options: MemoryBusOptions = {}) {
    this.history = new MemoryHistoryStore(options.history);
    const size = renamedOption(options, 'dedupeCacheSize', 'idempotencyCacheSize', 'MemoryBus');
    const max = size ?? DEFAULT_MEMORY_BUS_OPTIONS.idempotencyCacheSize;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
      throw new TypeError(`idempotencyCacheSize must be a positive integer, got ${String(size)}`);
    }
    const window = renamedOption(options, 'dedupeWindowMs', 'idempotencyWindowMs', 'MemoryBus');
    const ttlMs = window ?? DEFAULT_MEMORY_BUS_OPTIONS.idempotencyWindowMs;
    if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 1) {
      throw new TypeError(`idempotencyWindowMs must be a positive integer of milliseconds, got ${String(window)}`);
    }
    this.#idempotency = new LRUCache({ max, ttlMs });
  }

  /** How many idempotency keys are remembered at most now (`idempotencyCacheSize`, or less while shrunk). */
  get idempotencyCacheSize(): number {
    return this.#idempotency.max;
  }

  /** How many idempotency keys are remembered right now. */
  get idempotencyCacheEntries(): number {
    return this.#idempotency.size;
  }

  /**
   * Changes how many idempotency keys are remembered (memory pressure shrinks it, recovery restores it); shrinking
   * forgets the least recently used keys at once.
   * @returns the number of keys forgotten
   */
  resizeIdempotencyCache(max: number): number {
    return this.#idempotency.resize(max);
  }

  /** @deprecated Use {@link idempotencyCacheSize}. */
  get dedupeCacheSize(): number {
    return this.#idempotency.max;
  }

  /** @deprecated Use {@link idempotencyCacheEntries}. */
  get dedupeCacheEntries(): number {
    return this.#idempotency.size;
  }

  /** @deprecated Use {@link resizeIdempotencyCache}. */
  resizeDedupeCache(max: number): number {
    return this.#idempotency.resize(max);
  }

  /** @internal */
  join(node: MemoryBroker): void {
    this.#nodes.add(node);
  }

  /** @internal */
  leave(node: MemoryBroker): void {
    this.#nodes.delete(node);
  }

  /** @internal appends to history and hands the message to every node, synchronously */
  publish(request: PublishRequest): PublishResult {
    if (request.idempotent) {
      const previous = this.#idempotency.get(request.id);
      if (previous !== undefined) return { epoch: previous.epoch, offset: previous.offset, duplicate: true };
    }
    const message = this.history.append(request);
    const result: PublishResult = { epoch: message.epoch, offset: message.offset };
    if (request.idempotent) this.#idempotency.set(request.id, result);
    for (const node of this.#nodes) node.fromBus(message);
    return result;
  }

  /** @internal */
  publishVolatile(channel: ChannelName, line: string): void {
    for (const node of this.#nodes) node.volatileFromBus(channel, line);
  }

  /** @internal the subscriber counts of every node on the bus, summed */
  subscriberCounts(filter: SubscriberCountFilter | undefined): Map<ChannelName, number> {
    const out = new Map<ChannelName, number>();
    for (const node of this.#nodes) {
      for (const [channel, count] of node.countsForBus(filter)) out.set(channel, (out.get(channel) ?? 0) + count);
    }
    return out;
  }
}

/** Options of {@link MemoryBroker}. */
export interface MemoryBrokerOptions extends BrokerOptions, MemoryBusOptions {
  /** Share a bus with other brokers (several Hubs in one process). A private bus is created by default. */
  bus?: MemoryBus;
}

/** Options that belong to the bus: a broker given a shared `bus` refuses them. */
const BUS_OPTIONS = [
  'history',
  'idempotencyCacheSize',
  'idempotencyWindowMs',
  'dedupeCacheSize',
  'dedupeWindowMs',
] as const;

/**
 * The embedded default broker: one process, history and presence in memory, every call synchronous.
 */
export class MemoryBroker extends Broker {
  readonly kind = 'memory';
  readonly bus: MemoryBus;
  protected override readonly batchSubscriptions: boolean = false;

  constructor(options: MemoryBrokerOptions = {}) {
    super(options);
    if (options.bus !== undefined) {
      const busOption = BUS_OPTIONS.find((key) => options[key] !== undefined);
      if (busOption !== undefined) {
        throw new TypeError(`pass ${busOption} to the shared MemoryBus, not to each MemoryBroker that uses it`);
      }
    }
    this.bus = options.bus ?? new MemoryBus(options);
  }

  get history(): MemoryHistoryStore {
    return this.bus.history;
  }

  get presence(): MemoryPresenceStore {
    return this.bus.presence;
  }

  /** @internal */
  fromBus(message: StreamMessage): void {
    this.receive(message);
  }

  /** @internal */
  volatileFromBus(channel: ChannelName, line: string): void {
    this.receiveVolatile(channel, line);
  }

  /** @internal this node's counts, for the bus */
  countsForBus(filter: SubscriberCountFilter | undefined): Map<ChannelName, number> {
    return this.localSubscriberCounts(filter);
  }

  /** Subscriber counts of every Hub on this broker's bus (one process: the whole "cluster"). */
  override subscriberCounts(filter?: SubscriberCountFilter): Promise<Map<ChannelName, number>> {
    // a broker not started (or closed) is not on the bus: its own Hub still counts
    if (this.state === 'closed' || this.state === 'connecting') return super.subscriberCounts(filter);
    return Promise.resolve(this.bus.subscriberCounts(filter));
  }

  protected async doStart(): Promise<void> {
    this.bus.join(this);
  }

  protected doPublish(request: PublishRequest): PublishResult {
    return this.bus.publish(request);
  }

  protected doPublishVolatile(channel: ChannelName, line: string): void {
    this.bus.publishVolatile(channel, line);
  }

  // the bus hands every message to every node; the base class drops channels without local subscribers
  protected doSubscribe(): void {}

  protected doUnsubscribe(): void {}

  protected async doClose(): Promise<void> {
    this.bus.leave(this);
  }
}
