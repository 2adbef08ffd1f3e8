import { type UnisocketClient, type UnisocketClientOptions, createClient } from '@unisocket/client';
import { type ReactNode, createContext, createElement, useContext, useEffect, useRef, useState } from 'react';

/** The client the hooks use, provided by {@link UnisocketProvider}. */
export const UnisocketContext = createContext<UnisocketClient | null>(null);
UnisocketContext.displayName = 'UnisocketContext';

/** Props of {@link UnisocketProvider}: exactly one of `client`, `options` or `url`. */
export interface UnisocketProviderProps {
  /** A client you created: the provider uses it and leaves its lifetime to you (it does not disconnect it). */
  client?: UnisocketClient;
  /** Options of a client the provider creates once (later changes are ignored: re-key the provider) and owns. */
  options?: UnisocketClientOptions;
  /** Shorthand for `options={{ url }}`. */
  url?: string;
  /**
   * Connect on mount. A client the provider created is disconnected on unmount.
   * @default true
   */
  connect?: boolean;
  children?: ReactNode;
}

/**
 * Provides a unisocket client to the hooks below it.
 *
 * @example
 * ```tsx
 * <UnisocketProvider url="/ws"><App /></UnisocketProvider>
 * // or with a client you own (e.g. created at module level, shared with non-React code)
 * <UnisocketProvider client={client}><App /></UnisocketProvider>
 * ```
 * @throws {TypeError} when not exactly one of `client`, `options`, `url` is given
 */
export function UnisocketProvider(props: UnisocketProviderProps): ReactNode {
  const given = [props.client, props.options, props.url].filter((x) => x !== undefined).length;
  if (given !== 1) {
    throw new TypeError('<UnisocketProvider> takes exactly one of `client`, `options` or `url`');
  }
  const owned = useOwnedClient(props.client === undefined ? (props.options ?? { url: props.url! }) : undefined);
  const client = props.client ?? owned!;
  useConnection(client, owned !== undefined, props.connect ?? true);
  return createElement(UnisocketContext.Provider, { value: client }, props.children);
}

/**
 * The client from the nearest {@link UnisocketProvider}.
 * @throws {Error} outside a provider
 */
export function useUnisocketClient(): UnisocketClient {
  const client = useContext(UnisocketContext);
  if (client === null) {
    throw new Error(
      'no unisocket client here: wrap the component in <UnisocketProvider url="/ws"> (or pass a client to the hook)',
    );
  }
  return client;
}

/**
 * A client created once from `options` (`undefined`: none). Created with `autoConnect: false`: it connects in an
 * effect, never during render (nor on the server).
 * @internal
 */
export function useOwnedClient(options: UnisocketClientOptions | undefined): UnisocketClient | undefined {
  const [client] = useState(() =>
    options === undefined ? undefined : createClient({ ...options, autoConnect: false }),
  );
  return client;
}

/**
 * Connects `client` while mounted (when `connect`); an `owned` client is disconnected on unmount. The disconnect
 * waits for the end of the turn, so StrictMode's mount → unmount → mount keeps the one connection.
 * @internal
 */
export function useConnection(client: UnisocketClient, owned: boolean, connect: boolean): void {
  const leaving = useRef<{ cancelled: boolean } | null>(null);
  useEffect(() => {
    if (!connect) return undefined;
    if (leaving.current !== null) leaving.current.cancelled = true;
    leaving.current = null;
    // a failure is in the store (status, lastError); nothing to throw here
    client.connect().catch(() => undefined);
    return () => {
      if (!owned) return;
      const token = { cancelled: false };
      leaving.current = token;
      queueMicrotask(() => {
        if (!token.cancelled) client.disconnect();
      });
    };
  }, [client, owned, connect]);
}
