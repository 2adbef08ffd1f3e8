/**
 * @unisocket/svelte — Svelte stores over @unisocket/client. Glue only: each store implements the Svelte store
 * contract (`subscribe(run) => unsubscribe`) on one of the client's stores; the channel subscription starts with the
 * first subscriber and ends with the last. Usable with `$store` (Svelte 4 and 5) and with runes (`fromStore`, or
 * `$store` inside `$derived`/`$effect`).
 * @packageDocumentation
 */
import {
  type ChannelCallbacks,
  type ChannelFlags,
  type ChannelHandlers as ClientChannelHandlers,
  type ChannelName,
  type ChannelSnapshot,
  type ConnectionFlags,
  type ConnectionSnapshot,
  type EventMap,
  type ExternalStore,
  type PresenceMember,
  type PublishFunction,
  type PublishResult,
  type StreamPosition,
  type UnisocketClient,
  type UnisocketClientOptions,
  createClient,
  deriveStore,
  isClient,
  presenceMembers,
  watchStore,
  withChannelFlags,
  withConnectionFlags,
} from '@unisocket/client';
import { type Readable, readable } from 'svelte/store';

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
export type { Readable } from 'svelte/store';

const inBrowser = (): boolean => typeof window !== 'undefined';

// ------------------------------------------------------------------------------------------------
// clients created by createBroadcastStore: connected while any store built on them has subscribers
// ------------------------------------------------------------------------------------------------

interface Ownership {
  holders: number;
  leaving: { cancelled: boolean } | null;
}

const owned = new WeakMap<UnisocketClient, Ownership>();

function hold(client: UnisocketClient): void {
  const o = owned.get(client);
  if (o === undefined || !inBrowser()) return;
  o.holders++;
  if (o.leaving !== null) o.leaving.cancelled = true;
  o.leaving = null;
  client.connect().catch(() => undefined);
}

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
 */
function readableOf<T>(client: UnisocketClient, store: ExternalStore<T>, start?: () => () => void): Readable<T>['subscribe'] {
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

// ------------------------------------------------------------------------------------------------
// the connection
// ------------------------------------------------------------------------------------------------

/** The value of {@link createBroadcastStore}: the connection state and `isConnected`. */
export interface BroadcastStoreValue extends ConnectionSnapshot, ConnectionFlags {}

/** The store {@link createBroadcastStore} returns. */
export interface BroadcastStore extends Readable<BroadcastStoreValue> {
  readonly client: UnisocketClient;
  /** Connects now (a created client also connects with its stores' first subscriber). */
  connect(): Promise<void>;
  /** Disconnects now. */
  disconnect(): void;
  /** `client.publish`: acknowledged, queued while offline (bounded), idempotent. */
  publish: PublishFunction;
}

/**
 * The main connection: `const broadcast = createBroadcastStore({ url: '/ws' })`, then `$broadcast.isConnected`,
 * `$broadcast.status`, `broadcast.client`. Given options, the client is created here: it connects when a store built
 * on it (this one, or a channel store of `broadcast.client`) gets its first subscriber in a browser, and disconnects
 * when the last one leaves. Given a client, the store only reads it.
 */
export function createBroadcastStore(clientOrOptions: UnisocketClient | UnisocketClientOptions): BroadcastStore {
  let client: UnisocketClient;
  if (isClient(clientOrOptions)) client = clientOrOptions;
  else {
    client = createClient({ ...clientOrOptions, autoConnect: false });
    owned.set(client, { holders: 0, leaving: null });
  }
  return {
    subscribe: readableOf<BroadcastStoreValue>(client, deriveStore(client.connectionStore, withConnectionFlags)),
    client,
    connect: () => client.connect(),
    disconnect: () => client.disconnect(),
    publish: (channel, event, data, options) => client.publish(channel, event, data, options),
  };
}

/** A store of the connection state alone (`status`, `connectionId`, `userId`, `attempt`, `lastError`, `pendingPublishes`). */
export function createConnectionStore(source: UnisocketClient | BroadcastStore): Readable<ConnectionSnapshot> {
  const client = isClient(source) ? source : source.client;
  return { subscribe: readableOf(client, client.connectionStore) };
}

// ------------------------------------------------------------------------------------------------
// channels
// ------------------------------------------------------------------------------------------------

/** Handlers by event name: each gets the event's data (typed by `TEvents`) and the whole message. */
export type ChannelHandlers<TEvents extends EventMap = EventMap> = ClientChannelHandlers<TEvents>;

/** Options of the channel stores: the channel callbacks, `since` and `token` (those of `client.subscribe`). */
export interface ChannelStoreOptions<TEvents extends EventMap = EventMap> extends ChannelCallbacks<TEvents> {
  /** Start from a stored position. */
  since?: StreamPosition;
  /** A subscription token for private/presence channels. */
  token?: string;
}

/** The value of a channel store: the `ChannelSnapshot` and `isSubscribed`. */
export interface ChannelStoreValue extends ChannelSnapshot, ChannelFlags {}

/** The value of a presence store. */
export interface PresenceStoreValue extends ChannelStoreValue {
  /** The members (empty until subscribed). */
  readonly members: readonly PresenceMember[];
  /** `members.length`. */
  readonly memberCount: number;
}

/** A channel store. */
export interface ChannelStore<TValue extends ChannelStoreValue = ChannelStoreValue> extends Readable<TValue> {
  readonly client: UnisocketClient;
  readonly channel: ChannelName;
}

/** A private (or presence) channel store, with whisper. */
export interface PrivateChannelStore<TValue extends ChannelStoreValue = ChannelStoreValue> extends ChannelStore<TValue> {
  /** Sends `client-<event>` to the other members (a publish the server must allow). */
  whisper<TData = unknown>(event: string, data?: TData): Promise<PublishResult>;
}

type Source = UnisocketClient | BroadcastStore;

function channelStore<TValue extends ChannelStoreValue>(
  source: Source,
  channel: ChannelName,
  handlers: ChannelHandlers | undefined,
  options: ChannelStoreOptions | undefined,
  map: (snapshot: ChannelSnapshot) => TValue,
): ChannelStore<TValue> {
  const client = isClient(source) ? source : source.client;
  const subscribe = readableOf(client, deriveStore(client.channelStore(channel), map), () => {
    const sub = client.subscribe(channel, handlers === undefined ? { ...options } : { ...options, events: handlers });
    return () => sub.unsubscribe();
  });
  return { subscribe, client, channel };
}

/**
 * A store of a channel: subscribed at the server while the store has subscribers (`$chat` in a component), with
 * handlers by event name. Its value is the `ChannelSnapshot` — `status`, `recovered` (did the last reconnect deliver
 * every missed message?), `lastMessage`, `offset`, `epoch`, `error` — and `isSubscribed`.
 *
 * @example
 * ```svelte
 * <script>
 *   const chat = createChannelStore(broadcast, 'chat.lobby', { say: (data) => lines.push(data.text) });
 * </script>
 * {#if $chat.recovered === false}missed messages{/if}
 * ```
 */
export function createChannelStore<TEvents extends EventMap = EventMap>(
  source: Source,
  channel: ChannelName,
  handlers?: ChannelHandlers<TEvents>,
  options?: ChannelStoreOptions<TEvents>,
): ChannelStore {
  return channelStore(source, channel, handlers as ChannelHandlers, options as ChannelStoreOptions, withChannelFlags);
}

/** {@link createChannelStore} for a `private-` (or `presence-`) channel, with `whisper(event, data)`. */
export function createPrivateChannelStore<TEvents extends EventMap = EventMap>(
  source: Source,
  channel: ChannelName,
  handlers?: ChannelHandlers<TEvents>,
  options?: ChannelStoreOptions<TEvents>,
): PrivateChannelStore {
  const store = channelStore(source, channel, handlers as ChannelHandlers, options as ChannelStoreOptions, withChannelFlags);
  return { ...store, whisper: (event, data) => store.client.whisper(channel, event, data) };
}

/**
 * A store of a `presence-` channel: the channel store's value plus `members` and `memberCount`; `onJoin`/`onLeave`
 * options; `whisper`: `$presence.members`, `$presence.memberCount`.
 */
export function createPresenceStore<TEvents extends EventMap = EventMap>(
  source: Source,
  channel: ChannelName,
  handlers?: ChannelHandlers<TEvents>,
  options?: ChannelStoreOptions<TEvents>,
): PrivateChannelStore<PresenceStoreValue> {
  const store = channelStore<PresenceStoreValue>(source, channel, handlers as ChannelHandlers, options as ChannelStoreOptions, (s) => {
    const members = presenceMembers(s);
    return { ...withChannelFlags(s), members, memberCount: members.length };
  });
  return { ...store, whisper: (event, data) => store.client.whisper(channel, event, data) };
}
