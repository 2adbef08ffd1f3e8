import {
  type ChannelHandlers,
  type ChannelMessage,
  type ChannelName,
  type ChannelSnapshot,
  type EventMap,
  type PresenceMember,
  type PublishResult,
  type SubscribeOptions,
  type UnisocketClient,
  type UnisocketError,
  isClient,
  liveCallbacks,
  presenceMembers,
  watchStore,
  withChannelFlags,
} from '@unisocket/client';
import {
  type ComputedRef,
  type MaybeRefOrGetter,
  type ShallowRef,
  computed,
  getCurrentInstance,
  getCurrentScope,
  onMounted,
  onScopeDispose,
  shallowRef,
  toValue,
  watch,
} from 'vue';
import { resolveClient } from './plugin';

export type { ChannelHandlers } from '@unisocket/client';

/** Options of the channel composables: the channel callbacks (read when each event happens), `since`, `token`. */
export interface UseChannelOptions<TEvents extends EventMap = EventMap>
  extends Omit<SubscribeOptions<TEvents>, 'events'> {}

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

function splitArgs(args: Args): {
  client: UnisocketClient | undefined;
  channel: ChannelArg;
  handlers: unknown;
  options: unknown;
} {
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
    return name === null || name === undefined
      ? Promise.reject(new TypeError('whisper: no channel'))
      : client.whisper(name, event, data);
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
  return {
    ...channelCore(client, channel, handlers as ChannelHandlers, options as UseChannelOptions),
    whisper: whisperFor(client, channel),
  };
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
