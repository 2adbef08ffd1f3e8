/** A listener function; `on` returns the function that removes it. */
export type Unsubscribe = () => void;

/**
 * Calls a user callback so that a throwing listener neither breaks the client's own bookkeeping nor silences the
 * other listeners: the error is reported asynchronously (`reportError` in browsers, an uncaught exception in Node,
 * as an `EventEmitter` listener's would be).
 */
export function safeCall<A extends unknown[]>(fn: (...args: A) => void, ...args: A): void {
  try {
    fn(...args);
  } catch (error) {
    const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
    if (typeof report === 'function') report(error);
    else
      setTimeout(() => {
        throw error;
      }, 0);
  }
}

/** A small typed event emitter (browser-safe; no `node:events`). Listeners run in registration order. */
export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  readonly #listeners = new Map<keyof Events, Set<(...args: unknown[]) => void>>();

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): Unsubscribe {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    // a Set would keep one entry for the same function added twice; wrap so each `on` has its own removal
    const entry = (...args: unknown[]): void => (listener as unknown as (...a: unknown[]) => void)(...args);
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.#listeners.get(event) === set) this.#listeners.delete(event);
    };
  }

  /** `true` when the event has listeners. */
  has<K extends keyof Events>(event: K): boolean {
    return this.#listeners.has(event);
  }

  /** Calls the event's listeners; a throwing listener is reported and the others still run. */
  emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) safeCall(listener, ...(args as unknown[]));
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}
