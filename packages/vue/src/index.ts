/**
 * @unisocket/vue — Vue 3 bindings for @unisocket/client. Glue only: each composable feeds a `shallowRef` from one of
 * the client's stores and subscribes with cleanup in `onScopeDispose`; recovery, dedup, reconnect, presence and the
 * publish queue live in the client.
 * @packageDocumentation
 */
import {
  type ChannelCallbacks,
  type ChannelHandlers as ClientChannelHandlers,
  type ChannelMessage,
  type ChannelName,
  type ChannelSnapshot,
  type ConnectionSnapshot,
  type EventMap,
  type ExternalStore,
  type PresenceMember,
  type PublishFunction,
  type PublishResult,
  type StreamPosition,
  type UnisocketClient,
  type UnisocketClientOptions,
  type UnisocketError,
  createClient,
  isClient,
  liveCallbacks,
  presenceMembers,
  watchStore,
  withChannelFlags,
  withConnectionFlags,
} from '@unisocket/client';
import {
  type App,
  type ComputedRef,
  type InjectionKey,
  type MaybeRefOrGetter,
  type ShallowRef,
  computed,
  getCurrentInstance,
  getCurrentScope,
  hasInjectionContext,
  inject,
  onMounted,
  onScopeDispose,
  provide,
  shallowRef,
  toValue,
  watch,
} from 'vue';

export type {
  ChannelMessage,
  ChannelSnapshot,
  ConnectionSnapshot,
  ConnectionStatus,
  PresenceMember,
  UnisocketClient,
  UnisocketClientOptions,
  PublishFunction,
} from '@unisocket/client';

/** The injection key of the client. */
export const UNISOCKET_KEY: InjectionKey<UnisocketClient> = Symbol('unisocket');

// ------------------------------------------------------------------------------------------------
// providing a client
// ------------------------------------------------------------------------------------------------

const inBrowser = (): boolean => typeof window !== 'undefined';

/** The plugin {@link createUnisocket} returns. */
export interface UnisocketPlugin {
  readonly client: UnisocketClient;
  install(app: App): void;
}

/**
 * A plugin providing a client to every component: `app.use(createUnisocket({ url: '/ws' }))`. Given options, it
 * creates the client, connects it when installed in a browser (never during SSR) and disconnects it when the app
 * unmounts (Vue ≥ 3.5); given a client, it only provides it.
 */
export function createUnisocket(clientOrOptions: UnisocketClient | UnisocketClientOptions): UnisocketPlugin {
  const owned = !isClient(clientOrOptions);
  const client = owned ? createClient({ ...(clientOrOptions as UnisocketClientOptions), autoConnect: false }) : (clientOrOptions as UnisocketClient);
  return {
    client,
    install(app) {
      app.provide(UNISOCKET_KEY, client);
      if (!owned) return;
      if (inBrowser()) client.connect().catch(() => undefined);
      (app as App & { onUnmount?: (fn: () => void) => void }).onUnmount?.(() => client.disconnect());
    },
  };
}

/** Another name for {@link createUnisocket}. */
export const UnisocketPlugin = createUnisocket;

/**
 * Provides a client to the component's descendants (call it in `setup`). Given options, the client is created here,
 * connected on mount and disconnected when the component's scope ends.
 */
export function provideUnisocket(clientOrOptions: UnisocketClient | UnisocketClientOptions): UnisocketClient {
  const client = isClient(clientOrOptions) ? clientOrOptions : ownClient(clientOrOptions);
  provide(UNISOCKET_KEY, client);
  return client;
}

/** A client created here: connected on mount (or at once outside a component), disconnected with the scope. */
function ownClient(options: UnisocketClientOptions): UnisocketClient {
  const client = createClient({ ...options, autoConnect: false });
  const connect = (): void => void client.connect().catch(() => undefined);
  if (getCurrentInstance() !== null) onMounted(connect);
  else if (inBrowser()) connect();
  if (getCurrentScope() !== undefined) onScopeDispose(() => client.disconnect());
  return client;
}

/**
 * The provided client.
 * @throws {Error} when none is provided
 */
export function useUnisocketClient(): UnisocketClient {
  const client = hasInjectionContext() ? inject(UNISOCKET_KEY, null) : null;
  if (client === null) {
    throw new Error('no unisocket client here: app.use(createUnisocket({ url: "/ws" })), provideUnisocket(…) in a parent, or pass a client');
  }
  return client;
}

function resolveClient(explicit: UnisocketClient | undefined): UnisocketClient {
  return explicit ?? useUnisocketClient();
}

/** A shallowRef that follows a store until the current scope ends. */
function useStoreRef<T>(store: ExternalStore<T>): Readonly<ShallowRef<T>> {
  const state = shallowRef(store.getSnapshot());
  const off = watchStore(store, (value) => {
    state.value = value;
  });
  if (getCurrentScope() !== undefined) onScopeDispose(off);
  return state;
}

// ------------------------------------------------------------------------------------------------
// connection
// ------------------------------------------------------------------------------------------------

/**
 * The connection state as a shallowRef of the `ConnectionSnapshot` (`status`, `connectionId`, `userId`, `attempt`,
 * `lastError`, `pendingPublishes`); it changes with the connection only, not with every message.
 */
export function useConnectionState(client?: UnisocketClient): Readonly<ShallowRef<ConnectionSnapshot>> {
  return useStoreRef(resolveClient(client).connectionStore);
}

/** What {@link useBroadcast} returns. */
export interface BroadcastState {
  readonly client: UnisocketClient;
  /** The whole connection state. */
  readonly state: Readonly<ShallowRef<ConnectionSnapshot>>;
  readonly status: ComputedRef<ConnectionSnapshot['status']>;
  readonly isConnected: ComputedRef<boolean>;
  readonly connectionId: ComputedRef<string | null>;
  readonly userId: ComputedRef<string | null>;
  readonly lastError: ComputedRef<UnisocketError | null>;
}

/**
 * The main connection: with options, a client created here (connected on mount, disconnected when the scope ends);
 * without, the provided one. `const { client, isConnected } = useBroadcast({ url: '/ws' })`.
 */
export function useBroadcast(options?: UnisocketClientOptions): BroadcastState {
  const client = options === undefined ? useUnisocketClient() : ownClient(options);
  const state = useStoreRef(client.connectionStore);
  return {
    client,
    state,
    status: computed(() => state.value.status),
    isConnected: computed(() => withConnectionFlags(state.value).isConnected),
    connectionId: computed(() => state.value.connectionId),
    userId: computed(() => state.value.userId),
    lastError: computed(() => state.value.lastError),
  };
}

/** `publish(channel, event, data?, { id? })`: acknowledged, queued while offline (bounded), idempotent. */
export function usePublish(client?: UnisocketClient): PublishFunction {
  const c = resolveClient(client);
  return (channel, event, data, options) => c.publish(channel, event, data, options);
}

// ------------------------------------------------------------------------------------------------
// channels
// ------------------------------------------------------------------------------------------------

/** Handlers by event name: each gets the event's data (typed by `TEvents`) and the whole message. */
export type ChannelHandlers<TEvents extends EventMap = EventMap> = ClientChannelHandlers<TEvents>;

/** Options of the channel composables: the channel callbacks (read when each event happens), `since`, `token`. */
export interface UseChannelOptions<TEvents extends EventMap = EventMap> extends ChannelCallbacks<TEvents> {
  /** Start from a stored position. */
  since?: StreamPosition;
  /** A subscription token for private/presence channels. */
  token?: string;
}

/** What {@link useChannel} returns: the channel's snapshot and its fields as computed refs. */
export interface ChannelState {
  /** The whole `ChannelSnapshot` of the current channel. */
  readonly state: Readonly<ShallowRef<ChannelSnapshot>>;
  readonly status: ComputedRef<ChannelSnapshot['status']>;
  readonly isSubscribed: ComputedRef<boolean>;
  /** `true`: the last reconnect delivered every missed message; `false`: messages were missed; `null`: no recovery yet. */
  readonly recovered: ComputedRef<boolean | null>;
  readonly lastMessage: ComputedRef<ChannelMessage | null>;
  readonly offset: ComputedRef<number | null>;
  readonly epoch: ComputedRef<string | null>;
  readonly error: ComputedRef<UnisocketError | null>;
  /** Unsubscribes now (otherwise done when the scope ends). */
  stop(): void;
}

/** What {@link usePrivateChannel} returns. */
export interface PrivateChannelState extends ChannelState {
  /** Sends `client-<event>` to the other members (a publish the server must allow). */
  whisper<TData = unknown>(event: string, data?: TData): Promise<PublishResult>;
}

/** What {@link usePresence} returns. */
export interface PresenceState extends PrivateChannelState {
  readonly members: ComputedRef<readonly PresenceMember[]>;
}

type ChannelArg = MaybeRefOrGetter<ChannelName | null | undefined>;
type Args = [unknown, unknown?, unknown?, unknown?];

function splitArgs(args: Args): { client: UnisocketClient | undefined; channel: ChannelArg; handlers: unknown; options: unknown } {
  return isClient(args[0])
    ? { client: args[0], channel: args[1] as ChannelArg, handlers: args[2], options: args[3] }
    : { client: undefined, channel: args[0] as ChannelArg, handlers: args[1], options: args[2] };
}

function channelCore(
  client: UnisocketClient,
  channel: ChannelArg,
  handlers: MaybeRefOrGetter<ChannelHandlers | undefined>,
  options: UseChannelOptions | undefined,
): ChannelState {
  const state = shallowRef(client.channelStore(toValue(channel) ?? '').getSnapshot());
  let cleanup: (() => void) | undefined;
  let stopWatch: (() => void) | undefined;
  const bind = (name: ChannelName | null | undefined): void => {
    cleanup?.();
    cleanup = undefined;
    const store = client.channelStore(name ?? '');
    state.value = store.getSnapshot();
    if (name === null || name === undefined || name === '') return;
    const sub = client.subscribe(name, {
      ...(options?.since === undefined ? {} : { since: options.since }),
      ...(options?.token === undefined ? {} : { token: options.token }),
      ...liveCallbacks(() => ({ handlers: toValue(handlers), callbacks: options })),
    });
    const off = watchStore(store, (snapshot) => {
      state.value = snapshot;
    });
    state.value = store.getSnapshot();
    cleanup = () => {
      off();
      sub.unsubscribe();
    };
  };
  const stop = (): void => {
    stopWatch?.();
    stopWatch = undefined;
    cleanup?.();
    cleanup = undefined;
  };
  const start = (): void => {
    stopWatch = watch(() => toValue(channel), bind, { immediate: true });
  };
  // in a component, subscribe once mounted (never during server rendering); elsewhere at once
  if (getCurrentInstance() !== null) onMounted(start);
  else start();
  if (getCurrentScope() !== undefined) onScopeDispose(stop);
  return {
    state,
    status: computed(() => state.value.status),
    isSubscribed: computed(() => withChannelFlags(state.value).isSubscribed),
    recovered: computed(() => state.value.recovered),
    lastMessage: computed(() => state.value.lastMessage),
    offset: computed(() => state.value.offset),
    epoch: computed(() => state.value.epoch),
    error: computed(() => state.value.error),
    stop,
  };
}

function whisperFor(client: UnisocketClient, channel: ChannelArg): PrivateChannelState['whisper'] {
  return (event, data) => {
    const name = toValue(channel);
    return name === null || name === undefined ? Promise.reject(new TypeError('whisper: no channel')) : client.whisper(name, event, data);
  };
}

/**
 * Subscribes to a channel (a string, a ref or a getter: a change resubscribes) while the scope lives, and returns
 * its state as refs — `status`, `recovered`, `lastMessage`, `offset`, `epoch`, `error`, `isSubscribed`. `handlers`
 * (an object, or a ref/getter of one) are called by event name. Also callable as `useChannel(client, channel, …)`.
 *
 * @example
 * ```ts
 * const { lastMessage, recovered } = useChannel<{ say: { text: string } }>('chat.lobby', { say: (d) => lines.push(d.text) });
 * ```
 */
export function useChannel<TEvents extends EventMap = EventMap>(
  channel: ChannelArg,
  handlers?: MaybeRefOrGetter<ChannelHandlers<TEvents> | undefined>,
  options?: UseChannelOptions<TEvents>,
): ChannelState;
export function useChannel<TEvents extends EventMap = EventMap>(
  client: UnisocketClient,
  channel: ChannelArg,
  handlers?: MaybeRefOrGetter<ChannelHandlers<TEvents> | undefined>,
  options?: UseChannelOptions<TEvents>,
): ChannelState;
export function useChannel(...args: Args): ChannelState {
  const { client, channel, handlers, options } = splitArgs(args);
  return channelCore(resolveClient(client), channel, handlers as ChannelHandlers, options as UseChannelOptions);
}

/** {@link useChannel} for a `private-` (or `presence-`) channel, with `whisper(event, data)`. */
export function usePrivateChannel<TEvents extends EventMap = EventMap>(
  channel: ChannelArg,
  handlers?: MaybeRefOrGetter<ChannelHandlers<TEvents> | undefined>,
  options?: UseChannelOptions<TEvents>,
): PrivateChannelState;
export function usePrivateChannel<TEvents extends EventMap = EventMap>(
  client: UnisocketClient,
  channel: ChannelArg,
  handlers?: MaybeRefOrGetter<ChannelHandlers<TEvents> | undefined>,
  options?: UseChannelOptions<TEvents>,
): PrivateChannelState;
export function usePrivateChannel(...args: Args): PrivateChannelState {
  const { client: explicit, channel, handlers, options } = splitArgs(args);
  const client = resolveClient(explicit);
  return { ...channelCore(client, channel, handlers as ChannelHandlers, options as UseChannelOptions), whisper: whisperFor(client, channel) };
}

/**
 * {@link useChannel} for a `presence-` channel: `members` (a computed array, never `null`), `onJoin`/`onLeave`
 * options, and `whisper`. `const { members, isSubscribed, whisper } = usePresence(client, 'presence-room', {…})`.
 */
export function usePresence<TEvents extends EventMap = EventMap>(
  channel: ChannelArg,
  handlers?: MaybeRefOrGetter<ChannelHandlers<TEvents> | undefined>,
  options?: UseChannelOptions<TEvents>,
): PresenceState;
export function usePresence<TEvents extends EventMap = EventMap>(
  client: UnisocketClient,
  channel: ChannelArg,
  handlers?: MaybeRefOrGetter<ChannelHandlers<TEvents> | undefined>,
  options?: UseChannelOptions<TEvents>,
): PresenceState;
export function usePresence(...args: Args): PresenceState {
  const { client: explicit, channel, handlers, options } = splitArgs(args);
  const client = resolveClient(explicit);
  const core = channelCore(client, channel, handlers as ChannelHandlers, options as UseChannelOptions);
  return { ...core, members: computed(() => presenceMembers(core.state.value)), whisper: whisperFor(client, channel) };
}
