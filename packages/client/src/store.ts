import type { Unsubscribe } from './emitter';
import type { ExternalStore } from './types';

const UNSET: unique symbol = Symbol('unset');

/**
 * A store of a part of another store: its snapshot is `select(source.getSnapshot())`, computed again only when the
 * source's snapshot changed, and its listeners are called only when the selected value changed (by identity, or by
 * `isEqual`, in which case the earlier value is kept so that the identity stays the same).
 *
 * The client builds `connectionStore` and `channelStore(channel)` with it; the React, Vue and Svelte bindings use it
 * to add their derived flags to a snapshot without breaking the "same content, same object" contract.
 *
 * @example
 * ```ts
 * const status = deriveStore(client.store, (snapshot) => snapshot.status);
 * status.subscribe(() => console.log(status.getSnapshot())); // called only when the status changed
 * ```
 */
export function deriveStore<T, U>(
  source: ExternalStore<T>,
  select: (value: T) => U,
  isEqual: (a: U, b: U) => boolean = Object.is,
): ExternalStore<U> {
  let input: T | typeof UNSET = UNSET;
  let output: U | typeof UNSET = UNSET;
  const getSnapshot = (): U => {
    const value = source.getSnapshot();
    if (output === UNSET || !Object.is(input, value)) {
      const next = select(value);
      if (output === UNSET || !isEqual(output, next)) output = next;
      input = value;
    }
    return output;
  };
  return {
    getSnapshot,
    subscribe: (listener) => {
      let last = getSnapshot();
      return source.subscribe(() => {
        const next = getSnapshot();
        if (next === last) return;
        last = next;
        listener();
      });
    },
  };
}

/**
 * Calls `onChange` with the store's snapshot after each change (not at once); returns the function that stops it.
 * The Vue and Svelte bindings feed a `shallowRef` or a `readable` with it.
 */
export function watchStore<T>(store: ExternalStore<T>, onChange: (value: T) => void): Unsubscribe {
  return store.subscribe(() => onChange(store.getSnapshot()));
}
