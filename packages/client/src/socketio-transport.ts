import type { ServerFrame } from '@unisocket/core/protocol';
import type { OutgoingCommand, Transport, TransportFactory, TransportHandlers } from './transport';

/** The parts of a `socket.io-client` socket this transport uses. */
export interface SocketIoClientSocketLike {
  readonly connected: boolean;
  readonly io: { on(event: 'ping', listener: () => void): unknown };
  on(event: string, listener: (...args: never[]) => void): unknown;
  onAny(listener: (event: string, ...args: unknown[]) => void): unknown;
  emit(event: string, ...args: unknown[]): unknown;
  disconnect(): unknown;
}

/** `io` from `socket.io-client` (the npm package, or the browser script the server serves at `/socket.io/socket.io.min.js`). */
export type SocketIoConnect = (uri: string, options: Record<string, unknown>) => SocketIoClientSocketLike;

/** Options of {@link socketioTransport}. */
export interface SocketIoTransportOptions {
  /**
   * socket.io-client's `io` function.
   * @default `globalThis.io` when the Socket.IO browser script is loaded, else the `socket.io-client` package, loaded
   * on first connect (Node; in a bundled web app import it and pass it here)
   */
  io?: SocketIoConnect;
  /**
   * The engine.io transports to try, in order (socket.io-client's `transports`).
   * @default socket.io-client's default: long-polling first, upgraded to WebSocket
   */
  transports?: ('polling' | 'websocket' | 'webtransport')[];
  /**
   * Any other socket.io-client option (`extraHeaders`, `withCredentials`, `auth`, …). The transport sets `path`,
   * `query`, `forceNew: true` and `reconnection: false` (the unisocket client reconnects and recovers itself). The
   * client authenticates with the `auth` command after `welcome`; a server that requires a token at connect time
   * (`auth.required`) takes it from the handshake: `options: { auth: (cb) => getToken().then((token) => cb({ token })) }`.
   */
  options?: Record<string, unknown>;
}

/** Defined (as `true`) only when building the browser bundle, which then carries no code path to a bare import. */
declare const __UNISOCKET_BROWSER_BUNDLE__: boolean | undefined;

/**
 * The `io` function to use: the given one, else `globalThis.io` (the Socket.IO browser script), else the
 * `socket.io-client` package loaded on first use.
 * @throws {TypeError} when none is available, saying what to install or pass
 */
export async function resolveSocketIo(given?: SocketIoConnect): Promise<SocketIoConnect> {
  if (given !== undefined) return given;
  const global = (globalThis as { io?: SocketIoConnect }).io;
  if (typeof global === 'function') return global;
  if (typeof __UNISOCKET_BROWSER_BUNDLE__ !== 'undefined') {
    throw new TypeError(
      "transport 'socketio' needs socket.io-client: load the server's /socket.io/socket.io.min.js, or pass `io` (import { io } from '/socket.io/socket.io.esm.min.js')",
    );
  }
  const moduleName = 'socket.io-client';
  let mod: { io?: unknown; default?: unknown };
  try {
    mod = (await import(/* webpackIgnore: true */ /* @vite-ignore */ moduleName)) as typeof mod;
  } catch (error) {
    throw new TypeError(
      "transport 'socketio' needs the socket.io-client package, which could not be loaded: install it (`npm install socket.io-client`) or pass `io` in the client options",
      { cause: error },
    );
  }
  const io = mod.io ?? mod.default;
  if (typeof io !== 'function')
    throw new TypeError('the socket.io-client package did not export `io`; pass `io` in the client options');
  return io as SocketIoConnect;
}

/**
 * The Socket.IO transport: each command is emitted as the event of its type with the command's fields and an
 * acknowledgement callback, whose `ack` or `error` is reported as a frame carrying the command's `ref`; the server's
 * `welcome`, `message`, `presence`, `resync`, `refresh` and `error` events are the protocol's frames; engine.io's
 * heartbeat counts as the server's `ping`; a `close` event gives the close code of the disconnect that follows.
 *
 * The URL's path is Socket.IO's `path` (`/socket.io` when the URL has none): `https://example.com/socket.io`.
 */
export function socketioTransport(options: SocketIoTransportOptions = {}): TransportFactory {
  if (options.io !== undefined && typeof options.io !== 'function') {
    throw new TypeError("io must be socket.io-client's io function (import { io } from 'socket.io-client')");
  }
  let resolved: SocketIoConnect | undefined = options.io;
  return async (url, handlers) => {
    resolved ??= await resolveSocketIo();
    const target = new URL(url.replace(/^ws(s?):/i, 'http$1:'));
    const path = target.pathname === '' || target.pathname === '/' ? '/socket.io' : target.pathname;
    const query = Object.fromEntries(target.searchParams);
    const socket = resolved(target.origin, {
      ...options.options,
      ...(options.transports === undefined ? {} : { transports: options.transports }),
      path,
      query,
      forceNew: true,
      reconnection: false,
    });
    return new SocketIoClientTransport(socket, handlers);
  };
}

/** The close code reported for a disconnect the server gave no `close` event for. */
function disconnectCode(reason: string): number {
  // `io server disconnect` without a close event: the application's own code (service.io) disconnected it
  return reason === 'io server disconnect' ? 1000 : 1006;
}

/**
 * The close code of a connection the server refused at admission (`connect_error` with `data` from the server): its
 * close code, 4001 for an authentication refusal (so `getToken` is asked again, or the client stops as unauthorized),
 * else 1006 like a failed WebSocket upgrade (retried with backoff).
 */
function refusalCode(data: { closeCode?: unknown; status?: unknown } | undefined): number {
  if (typeof data?.closeCode === 'number') return data.closeCode;
  return data?.status === 401 ? 4001 : 1006;
}

function isFrame(event: string, value: unknown): value is ServerFrame {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === event;
}

class SocketIoClientTransport implements Transport {
  readonly name = 'socketio';
  #closed = false;
  #closeFrame: { code: number; reason: string } | undefined;

  constructor(
    readonly socket: SocketIoClientSocketLike,
    readonly handlers: TransportHandlers,
  ) {
    socket.on('connect', () => {
      if (!this.#closed) handlers.onOpen();
    });
    socket.onAny((event, frame) => {
      if (this.#closed) return;
      if (event === 'close') {
        const close = frame as { code?: unknown; reason?: unknown } | null;
        if (typeof close?.code === 'number')
          this.#closeFrame = { code: close.code, reason: typeof close.reason === 'string' ? close.reason : '' };
        return;
      }
      // other events are the application's own (service.io): not protocol frames
      if (isFrame(event, frame)) handlers.onFrame(frame);
    });
    // engine.io's heartbeat is the server's ping on this transport: it keeps the client's heartbeat timer fed
    socket.io.on('ping', () => {
      if (!this.#closed) handlers.onFrame({ type: 'ping' });
    });
    socket.on('connect_error', (error: Error & { data?: { closeCode?: unknown; status?: unknown } }) => {
      if (this.#closed) return;
      handlers.onError(error);
      this.#finish(refusalCode(error.data), error.message);
    });
    socket.on('disconnect', (reason: string) => {
      if (this.#closed) return;
      const close = this.#closeFrame;
      this.#finish(close?.code ?? disconnectCode(reason), close?.reason ?? reason);
    });
  }

  #finish(code: number, reason: string): void {
    this.#closed = true;
    this.socket.disconnect();
    this.handlers.onClose(code, reason);
  }

  send(commands: readonly OutgoingCommand[]): void {
    if (this.#closed || !this.socket.connected) return;
    for (const { command } of commands) {
      // the server's heartbeat is engine.io's: nothing to answer
      if (command.type === 'pong') continue;
      const { type, ref, ...payload } = command;
      this.socket.emit(type, payload, (reply: unknown) => {
        if (this.#closed || typeof reply !== 'object' || reply === null) return;
        this.handlers.onFrame((ref === undefined ? reply : { ...reply, ref }) as ServerFrame);
      });
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.disconnect();
  }
}
