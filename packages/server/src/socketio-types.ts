/**
 * The Socket.IO shapes the server's public types name, declared here (structurally) so that its declarations compile
 * without the optional `@unisocket/transport-socketio` and `socket.io` installed. At run time `service.io` is the
 * `socket.io` `Server`: for Socket.IO's full types, `service.io as unknown as import('socket.io').Server`.
 */

/** Options for the Socket.IO server (`socket.io` `ServerOptions`); the transport validates them. */
export interface SocketIoServerOptionsLike {
  path?: string;
  serveClient?: boolean;
  cors?: unknown;
  transports?: readonly string[];
  pingInterval?: number;
  pingTimeout?: number;
  maxHttpBufferSize?: number;
  allowRequest?: (request: unknown, callback: (error: string | null | undefined, success: boolean) => void) => void;
  [option: string]: unknown;
}

/** What `to(room)` returns: an emitter to the sockets in those rooms. */
export interface SocketIoBroadcastLike {
  emit(event: string, ...args: unknown[]): boolean;
  to(room: string | readonly string[]): SocketIoBroadcastLike;
  except(room: string | readonly string[]): SocketIoBroadcastLike;
  fetchSockets(): Promise<SocketIoRemoteSocketLike[]>;
  disconnectSockets(close?: boolean): void;
}

/** A socket of any node, as `fetchSockets()` returns it. */
export interface SocketIoRemoteSocketLike {
  readonly id: string;
  readonly rooms: Set<string>;
  readonly data: unknown;
  emit(event: string, ...args: unknown[]): boolean;
  join(room: string | readonly string[]): void;
  leave(room: string): void;
  disconnect(close?: boolean): this;
}

/** A socket connected to this node (`io.on('connection', (socket) => …)`). */
export interface SocketIoSocketLike {
  readonly id: string;
  readonly rooms: Set<string>;
  readonly connected: boolean;
  readonly handshake: { readonly auth: Record<string, unknown>; readonly headers: Record<string, unknown> };
  data: unknown;
  on(event: string, listener: (...args: never[]) => void): this;
  once(event: string, listener: (...args: never[]) => void): this;
  emit(event: string, ...args: unknown[]): boolean;
  join(room: string | readonly string[]): Promise<void> | void;
  leave(room: string): Promise<void> | void;
  to(room: string | readonly string[]): SocketIoBroadcastLike;
  disconnect(close?: boolean): this;
}

/** A namespace (`io.of('/')`). */
export interface SocketIoNamespaceLike {
  readonly name: string;
  /** The namespace's adapter (the Redis adapter with `socketio.redisAdapter`). */
  readonly adapter: unknown;
  readonly sockets: Map<string, SocketIoSocketLike>;
  on(event: 'connection', listener: (socket: SocketIoSocketLike) => void): this;
  on(event: string, listener: (...args: never[]) => void): this;
  emit(event: string, ...args: unknown[]): boolean;
  to(room: string | readonly string[]): SocketIoBroadcastLike;
  fetchSockets(): Promise<SocketIoRemoteSocketLike[]>;
  serverSideEmit(event: string, ...args: unknown[]): boolean;
}

/** The `socket.io` `Server` of the Socket.IO transport, as `service.io` is typed. */
export interface SocketIoServerLike {
  readonly engine: { readonly clientsCount: number };
  readonly sockets: SocketIoNamespaceLike;
  of(namespace: string): SocketIoNamespaceLike;
  on(event: 'connection', listener: (socket: SocketIoSocketLike) => void): this;
  on(event: string, listener: (...args: never[]) => void): this;
  use(middleware: (socket: SocketIoSocketLike, next: (error?: Error) => void) => void): this;
  emit(event: string, ...args: unknown[]): boolean;
  to(room: string | readonly string[]): SocketIoBroadcastLike;
  except(room: string | readonly string[]): SocketIoBroadcastLike;
  fetchSockets(): Promise<SocketIoRemoteSocketLike[]>;
  serverSideEmit(event: string, ...args: unknown[]): boolean;
  disconnectSockets(close?: boolean): void;
}
