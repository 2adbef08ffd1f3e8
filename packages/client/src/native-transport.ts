import { batchCommands, parseFrames } from './frames';
import type { OutgoingCommand, Transport, TransportFactory, TransportHandlers, TransportLimits } from './transport';

/** The fields of WebSocket events the native transport reads (open, message, error and close events). */
export interface WebSocketEventLike {
  type?: string;
  data?: unknown;
  code?: number;
  reason?: string;
  message?: unknown;
  error?: unknown;
}

/** The parts of a WebSocket the native transport uses: the browser's `WebSocket` and `ws` both have them. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: WebSocketEventLike) => void): void;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers (and Node 22+), `WebSocket` from `ws` in Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Defined (as `true`) only when building the browser bundle, which then carries no code path to `ws`. */
declare const __UNISOCKET_BROWSER_BUNDLE__: boolean | undefined;

const OPEN = 1;
/** How long a closed socket may take to finish its close handshake before `ws` sockets are dropped. */
const CLOSE_GRACE_MS = 1_000;

/**
 * The WebSocket implementation to use: the given one, else the global `WebSocket`, else the `ws` package loaded
 * on first use (Node 20 has no global WebSocket). `ws` is never imported by the browser bundle: the module name is
 * not a static import, so bundlers leave it alone, and browsers always have the global.
 * @throws {TypeError} when none is available, saying what to install or pass
 */
export async function resolveWebSocket(given?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (given !== undefined) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof global === 'function') return global;
  if (typeof __UNISOCKET_BROWSER_BUNDLE__ !== 'undefined') {
    throw new TypeError('this environment has no global WebSocket: pass `WebSocket` in the client options');
  }
  const moduleName = 'ws';
  let mod: { default?: unknown; WebSocket?: unknown };
  try {
    mod = (await import(/* webpackIgnore: true */ /* @vite-ignore */ moduleName)) as typeof mod;
  } catch (error) {
    throw new TypeError(
      'no WebSocket implementation: this runtime has no global WebSocket and the `ws` package could not be loaded; ' +
        'install it (`npm install ws`) or pass `WebSocket` in the client options',
      { cause: error },
    );
  }
  const ctor = mod.WebSocket ?? mod.default;
  if (typeof ctor !== 'function') {
    throw new TypeError('the `ws` package did not export a WebSocket class; pass `WebSocket` in the client options');
  }
  return ctor as WebSocketConstructor;
}

/**
 * The native transport: protocol v1 as UTF-8 JSON text frames over a WebSocket. Outgoing commands are batched into
 * `\n`-separated frames within the limits; incoming frames are split on `\n`.
 */
export function nativeTransport(options: { WebSocket?: WebSocketConstructor } = {}): TransportFactory {
  let resolved: WebSocketConstructor | undefined = options.WebSocket;
  return async (url, handlers, limits) => {
    resolved ??= await resolveWebSocket();
    return new NativeTransport(new resolved(url), handlers, limits);
  };
}

class NativeTransport implements Transport {
  readonly name = 'native';
  #closed = false;

  constructor(
    readonly socket: WebSocketLike,
    readonly handlers: TransportHandlers,
    readonly limits: TransportLimits,
  ) {
    socket.addEventListener('open', () => {
      if (!this.#closed) handlers.onOpen();
    });
    socket.addEventListener('message', (event) => {
      if (this.#closed) return;
      const data = event.data;
      if (typeof data !== 'string') {
        handlers.onError(new Error('the server sent a binary frame; protocol v1 uses text frames'));
        return;
      }
      const { frames, errors } = parseFrames(data);
      for (const error of errors) handlers.onError(error);
      // a handler may close the transport (e.g. a fatal frame): stop there
      for (const frame of frames) {
        if (this.#closed) return;
        handlers.onFrame(frame);
      }
    });
    socket.addEventListener('error', (event) => {
      if (this.#closed) return;
      const message = typeof event.message === 'string' && event.message !== '' ? event.message : 'WebSocket error';
      handlers.onError(event.error instanceof Error ? event.error : new Error(message));
    });
    socket.addEventListener('close', (event) => {
      if (this.#closed) return;
      this.#closed = true;
      handlers.onClose(event.code ?? 1006, event.reason ?? '');
    });
  }

  send(commands: readonly OutgoingCommand[]): void {
    if (this.#closed || this.socket.readyState !== OPEN || commands.length === 0) return;
    for (const text of batchCommands(commands, this.limits.maxPayloadBytes, this.limits.maxCommandsPerFrame)) {
      this.socket.send(text);
    }
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const socket = this.socket;
    try {
      socket.close(code, reason);
    } catch {
      // an invalid state or code: the socket is going away regardless
    }
    // `ws` sockets wait up to 30 s for the peer's close frame; a dead peer never sends it
    const terminate = (socket as { terminate?: () => void }).terminate;
    if (typeof terminate === 'function') {
      const timer = setTimeout(() => terminate.call(socket), CLOSE_GRACE_MS);
      (timer as { unref?: () => void }).unref?.();
      socket.addEventListener('close', () => clearTimeout(timer));
    }
  }
}
