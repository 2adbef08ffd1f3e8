/** Options of {@link LRUCache}. */
export interface LRUCacheOptions<K, V> {
  /**
   * The maximum number of entries; the least recently used entry is evicted past it.
   */
  max: number;
  /**
   * Entries older than this are treated as absent and evicted lazily. `0` disables expiry.
   * @default 0
   */
  ttlMs?: number;
  /**
   * Called for every entry removed by eviction (capacity, expiry or `resize`), not by `delete`/`clear`.
   */
  onEvict?: (key: K, value: V) => void;
  /**
   * The clock, in milliseconds. Tests pass a fake one.
   * @default Date.now
   */
  now?: () => number;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/**
 * A bounded map that evicts the least recently used entry, with optional per-entry expiry.
 *
 * Built on `Map` insertion order: a read moves the entry to the newest end. Used for the publish
 * dedup window and any cache that must not grow with traffic.
 */
export class LRUCache<K, V> {
  #map = new Map<K, Entry<V>>();
  #max: number;
  readonly #ttlMs: number;
  readonly #onEvict: ((key: K, value: V) => void) | undefined;
  readonly #now: () => number;
  #evictions = 0;

  constructor(options: LRUCacheOptions<K, V>) {
    assertMax(options.max);
    const ttlMs = options.ttlMs ?? 0;
    if (!(ttlMs >= 0) || !Number.isFinite(ttlMs)) {
      throw new TypeError(`LRUCache ttlMs must be a finite number >= 0, got ${String(options.ttlMs)}`);
    }
    this.#max = options.max;
    this.#ttlMs = ttlMs;
    this.#onEvict = options.onEvict;
    this.#now = options.now ?? Date.now;
  }

  /** The number of entries held (expired entries not yet evicted included). */
  get size(): number {
    return this.#map.size;
  }

  /** The maximum number of entries. */
  get max(): number {
    return this.#max;
  }

  /** How many entries were evicted since creation. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Returns the value and marks the entry most recently used; `undefined` when absent or expired. */
  get(key: K): V | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined) return undefined;
    if (this.#isExpired(entry)) {
      this.#evict(key, entry);
      return undefined;
    }
    this.#map.delete(key);
    this.#map.set(key, entry);
    return entry.value;
  }

  /** Returns the value without changing its recency; `undefined` when absent or expired. */
  peek(key: K): V | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined || this.#isExpired(entry)) return undefined;
    return entry.value;
  }

  /** `true` when the key is present and not expired. Does not change recency. */
  has(key: K): boolean {
    const entry = this.#map.get(key);
    return entry !== undefined && !this.#isExpired(entry);
  }

  /** Inserts or replaces a value and marks it most recently used, evicting the oldest entries past `max`. */
  set(key: K, value: V): this {
    const expiresAt = this.#ttlMs > 0 ? this.#now() + this.#ttlMs : Infinity;
    if (this.#map.has(key)) this.#map.delete(key);
    this.#map.set(key, { value, expiresAt });
    while (this.#map.size > this.#max) this.#evictOldest();
    return this;
  }

  /** Removes an entry. @returns `true` when it was present */
  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  /** Removes every entry (no `onEvict` calls). */
  clear(): void {
    this.#map.clear();
  }

  /**
   * Changes the capacity; shrinking evicts least recently used entries immediately.
   * @returns the number of evicted entries
   */
  resize(max: number): number {
    assertMax(max);
    this.#max = max;
    let evicted = 0;
    while (this.#map.size > max) {
      this.#evictOldest();
      evicted++;
    }
    return evicted;
  }

  /**
   * Evicts every expired entry now instead of lazily.
   * @returns the number of evicted entries
   */
  prune(): number {
    if (this.#ttlMs === 0) return 0;
    let evicted = 0;
    for (const [key, entry] of this.#map) {
      if (this.#isExpired(entry)) {
        this.#evict(key, entry);
        evicted++;
      }
    }
    return evicted;
  }

  /** Iterates live entries from least to most recently used. */
  *entries(): IterableIterator<[K, V]> {
    for (const [key, entry] of this.#map) if (!this.#isExpired(entry)) yield [key, entry.value];
  }

  /** Iterates live keys from least to most recently used. */
  *keys(): IterableIterator<K> {
    for (const [key] of this.entries()) yield key;
  }

  #isExpired(entry: Entry<V>): boolean {
    return entry.expiresAt !== Infinity && entry.expiresAt <= this.#now();
  }

  #evictOldest(): void {
    const first = this.#map.entries().next();
    if (first.done === true) return;
    const [key, entry] = first.value;
    this.#evict(key, entry);
  }

  #evict(key: K, entry: Entry<V>): void {
    this.#map.delete(key);
    this.#evictions++;
    this.#onEvict?.(key, entry.value);
  }
}

function assertMax(max: number): void {
  if (!Number.isInteger(max) || max < 1) {
    throw new TypeError(`LRUCache max must be a positive integer, got ${String(max)}`);
  }
}
