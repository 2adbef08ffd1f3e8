/**
 * @unisocket/svelte — Svelte stores over @unisocket/client. Glue only: each store implements the Svelte store
 * contract (`subscribe(run) => unsubscribe`) on one of the client's stores; the channel subscription starts with the
 * first subscriber and ends with the last. Usable with `$store` (Svelte 4 and 5) and with runes (`fromStore`, or
 * `$store` inside `$derived`/`$effect`).
 * @packageDocumentation
 */
export {
  type BroadcastStore,
  type BroadcastStoreValue,
  createBroadcastStore,
  createConnectionStore,
} from './connection-stores';
export {
  type ChannelHandlers,
  type ChannelStore,
  type ChannelStoreOptions,
  type ChannelStoreValue,
  type PresenceStoreValue,
  type PrivateChannelStore,
  createChannelStore,
  createPresenceStore,
  createPrivateChannelStore,
} from './channel-stores';
export type {
  ChannelMessage,
  ChannelSnapshot,
  ConnectionSnapshot,
  ConnectionStatus,
  PresenceMember,
  PublishFunction,
  UnisocketClient,
  UnisocketClientOptions,
} from '@unisocket/client';
export type { Readable } from 'svelte/store';
