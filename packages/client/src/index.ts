/**
 * @unisocket/client — the unisocket client for browsers and Node: subscriptions that recover what they missed,
 * acknowledged idempotent publishes, automatic reconnect with backoff, presence, and a store for UI bindings.
 * @packageDocumentation
 */
export { UnisocketClient, createClient } from './client';
export {
  type UnisocketClientOptions,
  type ReconnectOptions,
  type ResolvedClientOptions,
  DEFAULT_CLIENT_OPTIONS,
  DEFAULT_RECONNECT_OPTIONS,
} from './options';
export {
  Subscription,
  liveCallbacks,
  type SubscribeOptions,
  type ChannelHandlers,
  type ChannelCallbacks,
  type LiveListeners,
} from './subscription';
export type {
  SharedConnectionOptions,
  ConnectionSharingRole,
  ConnectionSharingSnapshot,
  BroadcastChannelConstructor,
  BroadcastChannelLike,
  LockManagerLike,
} from './sharing';
export type {
  AnyChannelMessage,
  ChannelMessage,
  ChannelSnapshot,
  ChannelStatus,
  ClientEvents,
  ClientSnapshot,
  ClientStats,
  ConnectionSnapshot,
  ConnectionStatus,
  EventHandler,
  EventMap,
  ExternalStore,
  GapInfo,
  PresenceChange,
  PublishOptions,
  PublishResult,
} from './types';
export type { Unsubscribe } from './emitter';
export { deriveStore, watchStore } from './store';
export {
  isClient,
  withChannelFlags,
  withConnectionFlags,
  presenceMembers,
  type ChannelFlags,
  type ConnectionFlags,
  type PublishFunction,
} from './binding-helpers';
export type { OutgoingCommand, Transport, TransportFactory, TransportHandlers, TransportLimits } from './transport';
export {
  nativeTransport,
  type WebSocketConstructor,
  type WebSocketLike,
  type WebSocketEventLike,
} from './native-transport';
export {
  socketioTransport,
  type SocketIoTransportOptions,
  type SocketIoConnect,
  type SocketIoClientSocketLike,
} from './socketio-transport';
export {
  recoverPusher,
  type PusherRecovery,
  type PusherRecoveryOptions,
  type PusherChannelRecovery,
  type PusherLike,
  type EchoLike,
  type PusherDispatcherLike,
} from './pusher-recovery';
export { backoffDelay, type BackoffOptions } from './backoff';
export { parseFrames, batchCommands, type ParsedFrames } from './frames';
export {
  UnisocketError,
  isUnisocketError,
  ErrorCode,
  CloseCode,
  PROTOCOL_VERSION,
  type ChannelName,
  type ConnectionId,
  type UserId,
  type MessageId,
  type Epoch,
  type Offset,
  type StreamPosition,
  type PresenceMember,
} from '@unisocket/core/protocol';
