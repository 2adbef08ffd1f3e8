/** Options of {@link PriorityQueue}. */
export interface PriorityQueueOptions<T> {
  /**
   * Orders items: a negative result puts `a` before `b` (popped first).
   * @default ascending numeric order of items (for a queue of numbers)
   */
  compare?: (a: T, b: T) => number;
  /**
   * The maximum number of items. When full, `push` keeps the `maxSize` items that would be popped first
   * and returns the one it dropped. `Infinity` makes the queue unbounded: avoid it for anything fed by clients.
   * @default Infinity
   */
  maxSize?: number;
}

/**
 * A binary-heap priority queue with an optional size bound.
 *
 * With `maxSize`, a full queue drops its lowest-priority item (the one popped last), so a burst of
 * low-priority work can never push out high-priority work nor grow memory.
 */
export class PriorityQueue<T> {
  #heap: T[] = [];
  readonly #compare: (a: T, b: T) => number;
  readonly #maxSize: number;
  #dropped = 0;

  constructor(options: PriorityQueueOptions<T> = {}) {
    this.#compare = options.compare ?? (defaultCompare as (a: T, b: T) => number);
    const maxSize = options.maxSize ?? Infinity;
    if (maxSize !== Infinity && (!Number.isInteger(maxSize) || maxSize < 1)) {
      throw new TypeError(`PriorityQueue maxSize must be a positive integer or Infinity, got ${String(maxSize)}`);
    }
    this.#maxSize = maxSize;
  }

  /** The number of queued items. */
  get size(): number {
    return this.#heap.length;
  }

  /** How many items were dropped because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Adds an item.
   * @returns the item dropped to respect `maxSize` (possibly the pushed item itself), or `undefined`
   */
  push(item: T): T | undefined {
    if (this.#heap.length >= this.#maxSize) {
      const worstIndex = this.#indexOfWorst();
      const worst = this.#heap[worstIndex] as T;
      // the new item is no better than the worst kept one: refuse it
      if (this.#compare(item, worst) >= 0) {
        this.#dropped++;
        return item;
      }
      this.#removeAt(worstIndex);
      this.#dropped++;
      this.#insert(item);
      return worst;
    }
    this.#insert(item);
    return undefined;
  }

  /** Removes and returns the highest-priority item. */
  pop(): T | undefined {
    const heap = this.#heap;
    if (heap.length === 0) return undefined;
    const top = heap[0] as T;
    const last = heap.pop() as T;
    if (heap.length > 0) {
      heap[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  /** The highest-priority item, without removing it. */
  peek(): T | undefined {
    return this.#heap[0];
  }

  /** Removes every item. */
  clear(): void {
    this.#heap = [];
  }

  /** The items in priority order, as a new array (the queue is unchanged). */
  toArray(): T[] {
    return [...this.#heap].sort(this.#compare);
  }

  #insert(item: T): void {
    this.#heap.push(item);
    this.#siftUp(this.#heap.length - 1);
  }

  #removeAt(index: number): void {
    const heap = this.#heap;
    const last = heap.pop() as T;
    if (index === heap.length) return;
    heap[index] = last;
    this.#siftDown(index);
    this.#siftUp(index);
  }

  // the worst item is always a leaf
  #indexOfWorst(): number {
    const heap = this.#heap;
    let worst = heap.length >> 1;
    for (let i = worst + 1; i < heap.length; i++) {
      if (this.#compare(heap[i] as T, heap[worst] as T) > 0) worst = i;
    }
    return worst;
  }

  #siftUp(index: number): void {
    const heap = this.#heap;
    const item = heap[index] as T;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.#compare(item, heap[parent] as T) >= 0) break;
      heap[index] = heap[parent] as T;
      index = parent;
    }
    heap[index] = item;
  }

  #siftDown(index: number): void {
    const heap = this.#heap;
    const length = heap.length;
    const item = heap[index] as T;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && this.#compare(heap[right] as T, heap[left] as T) < 0 ? right : left;
      if (this.#compare(heap[child] as T, item) >= 0) break;
      heap[index] = heap[child] as T;
      index = child;
    }
    heap[index] = item;
  }
}

function defaultCompare(a: number, b: number): number {
  return a - b;
}
