/**
 * @unisocket/transport-socketio — the Socket.IO transport: protocol v1 commands as Socket.IO events with
 * acknowledgements, on `socket.io` 4, with prepared-packet fan-out and an optional `@socket.io/redis-adapter`.
 * @packageDocumentation
 */
export { SocketIoTransport, type SocketIoTransportOptions } from './socketio-transport';
export { RECONNECT_CLOSE_CODES } from './socketio-socket';
export { SocketIoBatch, socketIoBatch, packetPrefix } from './packets';
export {
  type RedisAdapterOptions,
  type RedisAdapterHandle,
  createRedisAdapter,
  validateRedisAdapterOptions,
} from './redis-adapter';
export type { Admission, AdmissionCheck, AdmissionContext, CloseFrame } from '@unisocket/core';
export type { Server as SocketIoServer, ServerOptions as SocketIoServerOptions } from 'socket.io';
