import {
  type ChannelFlags,
  type ChannelHandlers,
  type ChannelName,
  type ChannelSnapshot,
  type EventMap,
  type PresenceMember,
  type PublishResult,
  type SubscribeOptions,
  type UnisocketClient,
  deriveStore,
  isClient,
  presenceMembers,
  withChannelFlags,
} from '@unisocket/client';
import type { Readable } from 'svelte/store';
import { readableOf } from './client-readable';
import type { BroadcastStore } from './connection-stores';

export type { ChannelHandlers } from '@unisocket/client';

/** Options of the channel stores: the channel callbacks, `since` and `token` (those of `client.subscribe`). */
export interface ChannelStoreOptions<TEvents extends EventMap = EventMap>
  extends Omit<SubscribeOptions<TEvents>, 'events'> {}

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
export interface PrivateChannelStore<TValue extends ChannelStoreValue = ChannelStoreValue>
  extends ChannelStore<TValue> {
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
  const store = channelStore(
    source,
    channel,
    handlers as ChannelHandlers,
    options as ChannelStoreOptions,
    withChannelFlags,
  );
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
  const store = channelStore<PresenceStoreValue>(
    source,
    channel,
    handlers as ChannelHandlers,
    options as ChannelStoreOptions,
    (s) => {
      const members = presenceMembers(s);
      return { ...withChannelFlags(s), members, memberCount: members.length };
    },
  );
  return { ...store, whisper: (event, data) => store.client.whisper(channel, event, data) };
}
