import { randomBytes } from 'node:crypto';

/** A value, or a promise of it: in-memory backends answer synchronously, networked ones asynchronously. */
export type MaybePromise<T> = T | Promise<T>;

/** `true` for a thenable. */
export function isPromiseLike<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * Calls `onValue` with the value, synchronously when it is not a promise, so in-memory paths stay free of
 * microtask hops. `onError` receives a rejection or a synchronous throw of `onValue`'s producer.
 */
export function settle<T>(
  produce: () => MaybePromise<T>,
  onValue: (value: T) => void,
  onError: (error: unknown) => void,
): void {
  let value: MaybePromise<T>;
  try {
    value = produce();
  } catch (error) {
    onError(error);
    return;
  }
  if (isPromiseLike(value)) value.then(onValue, onError);
  else onValue(value);
}

const NODE_ID_PATTERN = /^[A-Za-z0-9_.=@-]{1,32}$/;

/** A random node id: 8 base-36 characters. */
export function randomNodeId(): string {
  return BigInt(`0x${randomBytes(6).toString('hex')}`)
    .toString(36)
    .padStart(8, '0')
    .slice(-8);
}

/** Validates a node id given in options; throws a `TypeError` that says what to change. */
export function assertNodeId(nodeId: string): string {
  if (!NODE_ID_PATTERN.test(nodeId)) {
    throw new TypeError(`nodeId must be 1-32 characters of [A-Za-z0-9_.=@-], got ${JSON.stringify(nodeId)}`);
  }
  return nodeId;
}

/**
 * Cluster-unique ids without randomness per id: `<prefix><counter in base 36>`. The prefix carries the node id
 * and a per-process random part so restarts never reuse ids.
 */
export class IdGenerator {
  readonly #prefix: string;
  #counter = 0;

  constructor(nodeId: string) {
    this.#prefix = `${nodeId}-${randomBytes(3).toString('hex')}-`;
  }

  next(): string {
    return this.#prefix + (this.#counter++).toString(36);
  }
}

/**
 * The set of the last `capacity` ids seen: a Set plus a FIFO ring, no allocation per id.
 * Used to drop duplicate deliveries of one message arriving on two paths.
 */
export class IdWindow {
  readonly #set = new Set<string>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new TypeError(`an IdWindow capacity must be a positive integer, got ${String(capacity)}`);
    }
    this.#ring = new Array<string | undefined>(capacity);
  }

  /** Remembers `id`. @returns `false` when it was already in the window (a duplicate) */
  add(id: string): boolean {
    if (this.#set.has(id)) return false;
    const evicted = this.#ring[this.#next];
    if (evicted !== undefined) this.#set.delete(evicted);
    this.#ring[this.#next] = id;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#set.add(id);
    return true;
  }

  has(id: string): boolean {
    return this.#set.has(id);
  }

  get size(): number {
    return this.#set.size;
  }

  get capacity(): number {
    return this.#ring.length;
  }
}
