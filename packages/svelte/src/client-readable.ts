import {
  type ExternalStore,
  type UnisocketClient,
  type UnisocketClientOptions,
  createClient,
  watchStore,
} from '@unisocket/client';
import { type Readable, readable } from 'svelte/store';

const inBrowser = (): boolean => typeof window !== 'undefined';

interface Ownership {
  holders: number;
  leaving: { cancelled: boolean } | null;
}

const owned = new WeakMap<UnisocketClient, Ownership>();

/** A store built on `client` got its first subscriber. */
function hold(client: UnisocketClient): void {
  const o = owned.get(client);
  if (o === undefined || !inBrowser()) return;
  o.holders++;
  if (o.leaving !== null) o.leaving.cancelled = true;
  o.leaving = null;
  client.connect().catch(() => undefined);
}

/** A store built on `client` lost its last subscriber. */
function release(client: UnisocketClient): void {
  const o = owned.get(client);
  if (o === undefined || !inBrowser()) return;
  o.holders--;
  if (o.holders > 0) return;
  // wait for the end of the turn: a component re-created in the same tick keeps the connection
  const token = { cancelled: false };
  o.leaving = token;
  queueMicrotask(() => {
    if (!token.cancelled && o.holders === 0) client.disconnect();
  });
}

/**
 * A Svelte readable of one of the client's stores. While it has subscribers it follows the store and holds the
 * client (a created client connects with the first holder); `start` adds what else lives as long (a subscription).
 * During server-side rendering (`start` given) it is read once: nothing is held.
 * @internal
 */
export function readableOf<T>(
  client: UnisocketClient,
  store: ExternalStore<T>,
  start?: () => () => void,
): Readable<T>['subscribe'] {
  return readable(store.getSnapshot(), (set) => {
    set(store.getSnapshot());
    if (start !== undefined && !inBrowser()) return undefined;
    hold(client);
    const stop = start?.();
    const off = watchStore(store, set);
    if (stop !== undefined) set(store.getSnapshot());
    return () => {
      off();
      stop?.();
      release(client);
    };
  }).subscribe;
}

/**
 * A client the stores own: created without connecting, it connects while any store built on it has subscribers (in a
 * browser) and disconnects at the end of the turn in which the last one left.
 * @internal
 */
export function ownedClient(options: UnisocketClientOptions): UnisocketClient {
  const client = createClient({ ...options, autoConnect: false });
  owned.set(client, { holders: 0, leaving: null });
  return client;
}
