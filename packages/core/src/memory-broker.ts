import { LRUCache } from '@unisocket/memory';
import { Broker, type BrokerOptions } from './broker';
import { type HistoryOptions, MemoryHistoryStore } from './history';
import type { PublishRequest, PublishResult, StreamMessage } from './message';
import { MemoryPresenceStore } from './presence';
import type { ChannelName } from './protocol/types';

/** Options of {@link MemoryBus}. */
export interface MemoryBusOptions {
  /** Per-channel history bounds. */
  history?: HistoryOptions;
  /**
   * How many idempotency keys (publish `id`s) are remembered (maps `DEDUPE_CACHE_SIZE`).
   * @default 10_000
   */
  dedupeCacheSize?: number;
  /**
   * How long an idempotency key is remembered, in ms (maps `DEDUPE_WINDOW`).
   * @default 60_000
   */
  dedupeWindowMs?: number;
}

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
    const max = options.dedupeCacheSize ?? 10_000;
    if (!Number.isInteger(max) || max < 1) {
      throw new TypeError(`dedupeCacheSize must be a positive integer, got ${String(options.dedupeCacheSize)}`);
    }
    const ttlMs = options.dedupeWindowMs ?? 60_000;
    if (!Number.isInteger(ttlMs) || ttlMs < 1) {
      throw new TypeError(`dedupeWindowMs must be a positive integer of milliseconds, got ${String(options.dedupeWindowMs)}`);
    }
    this.#idempotency = new LRUCache({ max, ttlMs });
  }

  /** How many idempotency keys are remembered at most now (`dedupeCacheSize`, or less while shrunk). */
  get dedupeCacheSize(): number {
    return this.#idempotency.max;
  }

  /** How many idempotency keys are remembered right now. */
  get dedupeCacheEntries(): number {
    return this.#idempotency.size;
  }

  /**
   * Changes how many idempotency keys are remembered (memory pressure shrinks it, recovery restores it); shrinking
   * forgets the least recently used keys at once.
   * @returns the number of keys forgotten
   */
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
}

/** Options of {@link MemoryBroker}. */
export interface MemoryBrokerOptions extends BrokerOptions, MemoryBusOptions {
  /** Share a bus with other brokers (several Hubs in one process). A private bus is created by default. */
  bus?: MemoryBus;
}

/**
 * The embedded default broker: one process, history and presence in memory, every call synchronous.
 */
export class MemoryBroker extends Broker {
  readonly kind = 'memory';
  readonly bus: MemoryBus;
  protected override readonly batchSubscriptions: boolean = false;

  constructor(options: MemoryBrokerOptions = {}) {
    super(options);
    if (
      options.bus !== undefined &&
      (options.history !== undefined || options.dedupeCacheSize !== undefined || options.dedupeWindowMs !== undefined)
    ) {
      throw new TypeError('pass history and dedupe options to the shared MemoryBus, not to each MemoryBroker');
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
