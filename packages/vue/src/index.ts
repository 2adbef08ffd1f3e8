/**
 * @unisocket/vue — Vue 3 bindings for @unisocket/client. Glue only: each composable feeds a `shallowRef` from one of
 * the client's stores and subscribes with cleanup in `onScopeDispose`; recovery, dedup, reconnect, presence and the
 * publish queue live in the client.
 * @packageDocumentation
 */
export { UNISOCKET_KEY, UnisocketPlugin, createUnisocket, provideUnisocket, useUnisocketClient } from './plugin';
export { type BroadcastState, useBroadcast, useConnectionState, usePublish } from './connection';
export {
  type ChannelHandlers,
  type ChannelState,
  type PresenceState,
  type PrivateChannelState,
  type UseChannelOptions,
  useChannel,
  usePresence,
  usePrivateChannel,
} from './channels';
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
