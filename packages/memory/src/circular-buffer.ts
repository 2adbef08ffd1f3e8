/**
 * A fixed-capacity ring buffer. Pushing into a full buffer overwrites the oldest item and returns it,
 * so memory never grows past `capacity` items.
 *
 * Used for per-channel history rings and latency samples.
 *
 * @example
 * ```ts
 * const samples = new CircularBuffer<number>(1000);
 * samples.push(3.2);
 * samples.toArray(); // oldest first
 * ```
 */
export class CircularBuffer<T> {
  #items: (T | undefined)[];
  #head = 0; // index of the oldest item
  #size = 0;

  /** @param capacity the maximum number of items kept; must be a positive integer */
  constructor(capacity: number) {
    assertCapacity(capacity);
    this.#items = new Array<T | undefined>(capacity);
  }

  /** The maximum number of items kept. */
  get capacity(): number {
    return this.#items.length;
  }

  /** The number of items currently held. */
  get size(): number {
    return this.#size;
  }

  /** `true` when `size === capacity`: the next push evicts the oldest item. */
  get isFull(): boolean {
    return this.#size === this.#items.length;
  }

  /**
   * Appends an item at the newest end.
   * @returns the evicted oldest item when the buffer was full, otherwise `undefined`
   */
  push(item: T): T | undefined {
    const cap = this.#items.length;
    if (this.#size < cap) {
      this.#items[(this.#head + this.#size) % cap] = item;
      this.#size++;
      return undefined;
    }
    const evicted = this.#items[this.#head];
    this.#items[this.#head] = item;
    this.#head = (this.#head + 1) % cap;
    return evicted;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#size--;
    return item;
  }

  /** Removes and returns the newest item. */
  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    const index = (this.#head + this.#size - 1) % this.#items.length;
    const item = this.#items[index];
    this.#items[index] = undefined;
    this.#size--;
    return item;
  }

  /** The oldest item, without removing it. */
  first(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  /** The newest item, without removing it. */
  last(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[(this.#head + this.#size - 1) % this.#items.length];
  }

  /**
   * The item at logical position `index` (0 = oldest). Negative indexes count from the newest end.
   */
  at(index: number): T | undefined {
    const i = index < 0 ? this.#size + index : index;
    if (i < 0 || i >= this.#size) return undefined;
    return this.#items[(this.#head + i) % this.#items.length];
  }

  /** Removes every item. */
  clear(): void {
    this.#items.fill(undefined);
    this.#head = 0;
    this.#size = 0;
  }

  /**
   * Drops the oldest items while `predicate` returns `true` for them.
   * @returns how many items were dropped
   */
  dropWhile(predicate: (item: T) => boolean): number {
    let dropped = 0;
    while (this.#size > 0 && predicate(this.#items[this.#head] as T)) {
      this.shift();
      dropped++;
    }
    return dropped;
  }

  /**
   * Changes the capacity, keeping the newest items when shrinking.
   * @returns the number of items dropped
   */
  resize(capacity: number): number {
    assertCapacity(capacity);
    const items = this.toArray();
    const dropped = Math.max(0, items.length - capacity);
    this.#items = new Array<T | undefined>(capacity);
    this.#head = 0;
    this.#size = 0;
    for (let i = dropped; i < items.length; i++) this.push(items[i] as T);
    return dropped;
  }

  /** The items, oldest first, as a new array. */
  toArray(): T[] {
    const out = new Array<T>(this.#size);
    for (let i = 0; i < this.#size; i++) out[i] = this.#items[(this.#head + i) % this.#items.length] as T;
    return out;
  }

  /** Iterates oldest first. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#size; i++) yield this.#items[(this.#head + i) % this.#items.length] as T;
  }
}

function assertCapacity(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new TypeError(`CircularBuffer capacity must be a positive integer, got ${String(capacity)}`);
  }
}
