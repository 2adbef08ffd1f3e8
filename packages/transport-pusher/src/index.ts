/**
 * @unisocket/transport-pusher — the Pusher Channels protocol (version 7) on the unisocket Hub: `pusher-js`, Laravel
 * Echo and the Pusher server SDKs against unisocket.
 * @packageDocumentation
 */
export * from './options';
export * from './signature';
export { PusherTransport, type PusherTransportOptions } from './pusher-transport';
export { PusherCloseCode, pusherCloseCode } from './pusher-socket';
export { AppNamespace, SERVER_TO_USER_PREFIX, isCacheChannel, pusherChannelOf, pusherUserOf } from './namespace';
export { type PusherBatch, pusherBatch, pusherEventOfLine } from './translate';
export * from './rest';
