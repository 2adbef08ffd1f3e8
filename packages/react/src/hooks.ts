import {
  type ChannelCallbacks,
  type ChannelFlags,
  type ChannelHandlers,
  type ConnectionFlags,
  type PublishFunction,
  deriveStore,
  isClient,
  liveCallbacks,
  presenceMembers,
  withChannelFlags,
  withConnectionFlags,
} from '@unisocket/client';
import type {
  ChannelName,
  ChannelSnapshot,
  ConnectionSnapshot,
  EventMap,
  PresenceMember,
  PublishResult,
  StreamPosition,
  UnisocketClient,
  UnisocketClientOptions,
} from '@unisocket/client';
import { useCallback, useContext, useEffect, useLayoutEffect, useMemo, useRef, useSyncExternalStore } from 'react';
import { UnisocketContext, useConnection, useOwnedClient } from './provider';

export type { PublishFunction } from '@unisocket/client';

export type { ChannelHandlers } from '@unisocket/client';

/** Options of {@link useChannel} (and the presence/private hooks). Callbacks may change between renders. */
export interface UseChannelOptions<TEvents extends EventMap = EventMap>
  extends Omit<ChannelCallbacks<TEvents>, 'onJoin' | 'onLeave'> {
  /** Start from a stored position (read when the subscription starts). */
  since?: StreamPosition;
  /** A subscription token for private/presence channels (a change resubscribes). */
  token?: string;
}

/** What {@link useChannel} returns: the channel's snapshot (from the client's store) and `isSubscribed`. */
export interface ChannelState extends ChannelSnapshot, ChannelFlags {}

/** What {@link usePrivateChannel} returns. */
export interface PrivateChannelState extends ChannelState {
  /** Sends `client-<event>` to the other members (a publish the server must allow). */
  whisper<TData = unknown>(event: string, data?: TData): Promise<PublishResult>;
}

/** What {@link usePresence} returns. */
export interface PresenceState extends PrivateChannelState {
  /** The members (empty until subscribed). */
  readonly members: readonly PresenceMember[];
}

/** Options of {@link usePresence}: the channel options plus `onJoin` / `onLeave`. */
export interface UsePresenceOptions<TEvents extends EventMap = EventMap>
  extends UseChannelOptions<TEvents>,
    Pick<ChannelCallbacks<TEvents>, 'onJoin' | 'onLeave'> {}

/** What {@link useBroadcast} and {@link useBroadcastContext} return: the client and its connection state. */
export interface BroadcastState extends ConnectionSnapshot, ConnectionFlags {
  readonly client: UnisocketClient;
}

// ------------------------------------------------------------------------------------------------
// helpers
// ------------------------------------------------------------------------------------------------

const useIsomorphicLayoutEffect = typeof window === 'undefined' ? useEffect : useLayoutEffect;

/** A ref holding the latest committed value: callbacks read it without resubscribing. */
function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  useIsomorphicLayoutEffect(() => {
    ref.current = value;
  });
  return ref;
}

/** The client: the one passed (`useChannel(client, channel, …)`) or the provider's. */
function useClientArg(explicit: UnisocketClient | undefined): UnisocketClient {
  const fromContext = useContext(UnisocketContext);
  const client = explicit ?? fromContext;
  if (client === null) {
    throw new Error(
      'no unisocket client here: wrap the component in <UnisocketProvider url="/ws"> or pass a client as the first argument',
    );
  }
  return client;
}

type ChannelArgs = [unknown, unknown?, unknown?, unknown?];

function splitArgs(args: ChannelArgs): {
  client: UnisocketClient | undefined;
  channel: ChannelName | null | undefined;
  handlers: ChannelHandlers | undefined;
  options: UsePresenceOptions | undefined;
} {
  if (isClient(args[0])) {
    return {
      client: args[0],
      channel: args[1] as ChannelName | null | undefined,
      handlers: args[2] as ChannelHandlers | undefined,
      options: args[3] as UsePresenceOptions | undefined,
    };
  }
  return {
    client: undefined,
    channel: args[0] as ChannelName | null | undefined,
    handlers: args[1] as ChannelHandlers | undefined,
    options: args[2] as UsePresenceOptions | undefined,
  };
}

/** Subscribes while mounted and returns the channel's snapshot: the shared core of the channel hooks. */
function useChannelCore(
  client: UnisocketClient,
  channel: ChannelName | null | undefined,
  handlers: ChannelHandlers | undefined,
  options: UsePresenceOptions | undefined,
): ChannelState {
  const latest = useLatest({ handlers, options });
  const token = options?.token;
  useEffect(() => {
    if (channel === null || channel === undefined) return undefined;
    const since = latest.current.options?.since;
    const sub = client.subscribe(channel, {
      ...(since === undefined ? {} : { since }),
      ...(token === undefined ? {} : { token }),
      ...liveCallbacks(() => ({ handlers: latest.current.handlers, callbacks: latest.current.options })),
    });
    // the client keeps one server subscription per channel: StrictMode's unmount/remount reuses it
    return () => sub.unsubscribe();
  }, [client, channel, token, latest]);
  const store = useMemo(() => deriveStore(client.channelStore(channel ?? ''), withChannelFlags), [client, channel]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** The connection state of `client` with `client` and `isConnected`, re-rendering when the connection changes. */
function useBroadcastState(client: UnisocketClient): BroadcastState {
  const connection = useConnectionState(client);
  return useMemo(() => ({ ...withConnectionFlags(connection), client }), [connection, client]);
}

function useWhisper(client: UnisocketClient, channel: ChannelName | null | undefined): PrivateChannelState['whisper'] {
  return useCallback(
    <TData = unknown>(event: string, data?: TData) =>
      channel === null || channel === undefined
        ? Promise.reject(new TypeError('whisper: the hook has no channel'))
        : client.whisper(channel, event, data),
    [client, channel],
  );
}

// ------------------------------------------------------------------------------------------------
// hooks
// ------------------------------------------------------------------------------------------------

/**
 * Subscribes to a channel while the component is mounted and returns its state — `status`, `recovered` (did the last
 * reconnect deliver every missed message?), `lastMessage`, `offset`, `epoch`, `error`, `members`, `isSubscribed` —
 * re-rendering when it changes. `handlers` are called by event name; they (and `options`' callbacks) may change
 * between renders without resubscribing. A `null` channel subscribes to nothing.
 *
 * Also callable as `useChannel(client, channel, handlers?, options?)`, without a provider.
 *
 * @example
 * ```tsx
 * const chat = useChannel<{ say: { text: string } }>('chat.lobby', { say: (data) => append(data.text) });
 * if (chat.recovered === false) return <Reload />;
 * ```
 */
export function useChannel<TEvents extends EventMap = EventMap>(
  channel: ChannelName | null | undefined,
  handlers?: ChannelHandlers<TEvents>,
  options?: UseChannelOptions<TEvents>,
): ChannelState;
export function useChannel<TEvents extends EventMap = EventMap>(
  client: UnisocketClient,
  channel: ChannelName | null | undefined,
  handlers?: ChannelHandlers<TEvents>,
  options?: UseChannelOptions<TEvents>,
): ChannelState;
export function useChannel(...args: ChannelArgs): ChannelState {
  const { client: explicit, channel, handlers, options } = splitArgs(args);
  const client = useClientArg(explicit);
  return useChannelCore(client, channel, handlers, options);
}

/**
 * {@link useChannel} for a `private-` (or `presence-`) channel, with `whisper(event, data)` (sends `client-<event>`).
 */
export function usePrivateChannel<TEvents extends EventMap = EventMap>(
  channel: ChannelName | null | undefined,
  handlers?: ChannelHandlers<TEvents>,
  options?: UseChannelOptions<TEvents>,
): PrivateChannelState;
export function usePrivateChannel<TEvents extends EventMap = EventMap>(
  client: UnisocketClient,
  channel: ChannelName | null | undefined,
  handlers?: ChannelHandlers<TEvents>,
  options?: UseChannelOptions<TEvents>,
): PrivateChannelState;
export function usePrivateChannel(...args: ChannelArgs): PrivateChannelState {
  const { client: explicit, channel, handlers, options } = splitArgs(args);
  const client = useClientArg(explicit);
  const state = useChannelCore(client, channel, handlers, options);
  const whisper = useWhisper(client, channel);
  return useMemo(() => ({ ...state, whisper }), [state, whisper]);
}

/**
 * {@link useChannel} for a `presence-` channel: `members` (never `null`), `onJoin`/`onLeave` callbacks, and `whisper`.
 *
 * @example
 * ```tsx
 * const { members, isSubscribed } = usePresence('presence-lobby', {}, { onJoin: (m) => toast(`${m.userId} joined`) });
 * ```
 */
export function usePresence<TEvents extends EventMap = EventMap>(
  channel: ChannelName | null | undefined,
  handlers?: ChannelHandlers<TEvents>,
  options?: UsePresenceOptions<TEvents>,
): PresenceState;
export function usePresence<TEvents extends EventMap = EventMap>(
  client: UnisocketClient,
  channel: ChannelName | null | undefined,
  handlers?: ChannelHandlers<TEvents>,
  options?: UsePresenceOptions<TEvents>,
): PresenceState;
export function usePresence(...args: ChannelArgs): PresenceState {
  const { client: explicit, channel, handlers, options } = splitArgs(args);
  const client = useClientArg(explicit);
  const state = useChannelCore(client, channel, handlers, options);
  const whisper = useWhisper(client, channel);
  return useMemo(() => ({ ...state, members: presenceMembers(state), whisper }), [state, whisper]);
}

/**
 * The connection state (`status`, `connectionId`, `userId`, `attempt`, `lastError`, `pendingPublishes`); re-renders
 * only when it changes (not on channel messages).
 */
export function useConnectionState(client?: UnisocketClient): ConnectionSnapshot {
  const c = useClientArg(client);
  return useSyncExternalStore(
    c.connectionStore.subscribe,
    c.connectionStore.getSnapshot,
    c.connectionStore.getSnapshot,
  );
}

/**
 * A stable `publish(channel, event, data?, options?)`: resolves with `{ id, offset, duplicate }` once acknowledged;
 * while offline it waits in the client's bounded queue.
 */
export function usePublish(client?: UnisocketClient): PublishFunction {
  const c = useClientArg(client);
  return useCallback<PublishFunction>((channel, event, data, options) => c.publish(channel, event, data, options), [c]);
}

/**
 * The main connection: with `options`, a client this component creates, connects on mount and disconnects on
 * unmount (no provider needed); without, the provider's client. Returns the client, `isConnected` and the
 * connection state.
 *
 * @example
 * ```tsx
 * const { client, isConnected } = useBroadcast({ url: '/ws' });
 * ```
 */
export function useBroadcast(options?: UnisocketClientOptions): BroadcastState {
  const owned = useOwnedClient(options);
  const fromContext = useContext(UnisocketContext);
  const client = owned ?? fromContext;
  if (client === null) {
    throw new Error(
      'useBroadcast() without options needs a <UnisocketProvider> above it; or pass options: useBroadcast({ url: "/ws" })',
    );
  }
  useConnection(client, owned !== undefined, owned !== undefined);
  return useBroadcastState(client);
}

/** {@link useBroadcast} with the URL first: `useBroadcast({ ...options, url })`. */
export function useBroadcastSocket(url: string, options?: Omit<UnisocketClientOptions, 'url'>): BroadcastState {
  return useBroadcast({ ...options, url });
}

/** Another name for {@link useChannel}. */
export const useSubscription = useChannel;

/**
 * The provider's client with `isConnected` and the connection state ({@link useBroadcast} without options).
 * @throws {Error} outside a provider
 */
export function useBroadcastContext(): BroadcastState {
  return useBroadcastState(useClientArg(undefined));
}
