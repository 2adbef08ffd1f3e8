import type { BackoffOptions } from './backoff';
import type { WebSocketConstructor } from './native-transport';
import type { SharedConnectionOptions } from './sharing';
import type { SocketIoConnect } from './socketio-transport';
import type { TransportFactory } from './transport';

/** How the client reconnects after losing its connection. */
export interface ReconnectOptions extends BackoffOptions {
  /**
   * The cap of the first reconnect delay, in ms (delays are drawn uniformly from `[0, cap]`, "full jitter").
   * @default 500
   */
  initialDelayMs: number;
  /**
   * The largest reconnect delay, in ms. With full jitter, a fleet of clients still spreads its reconnects over this
   * window, while a page waits at most this long after its server comes back.
   * @default 10_000
   */
  maxDelayMs: number;
  /**
   * How much the delay cap grows after each failed attempt.
   * @default 2
   */
  factor: number;
  /**
   * How long a connection must stay up before the backoff starts again from `initialDelayMs`, in ms. A server that
   * accepts and at once drops the client (overloaded, slow consumer) so never causes a tight reconnect loop.
   * @default 5_000
   */
  stableAfterMs: number;
}

/** Options of {@link createClient}. Only `url` is required. */
export interface UnisocketClientOptions {
  /**
   * The server's WebSocket endpoint, e.g. `wss://example.com/ws`. `http(s)://` URLs are turned into `ws(s)://`; in a
   * browser a path such as `/ws` is resolved against the page. A function is called before every connection attempt
   * (pick a node, add a fresh query parameter). A list of endpoints (several nodes without a load balancer): the
   * client starts at a random one and moves to the next after every lost connection or failed attempt, so the
   * clients of a node that shuts down or dies spread over the others.
   */
  url: string | readonly string[] | (() => string);
  /**
   * How to reach the server: `'native'` (protocol v1 over a WebSocket), `'socketio'` (the server's Socket.IO
   * transport, on `socket.io-client`; `url` is then the Socket.IO endpoint, e.g. `https://example.com/socket.io`), or a
   * custom {@link TransportFactory} (e.g. `socketioTransport({ transports: ['websocket'] })`).
   * @default 'native'
   */
  transport?: 'native' | 'socketio' | TransportFactory;
  /**
   * socket.io-client's `io` for `transport: 'socketio'`.
   * @default `globalThis.io` (the Socket.IO browser script), else the `socket.io-client` package, loaded on first connect
   */
  io?: SocketIoConnect;
  /**
   * The WebSocket implementation for the native transport.
   * @default globalThis.WebSocket; in Node without one (Node 20), the `ws` package, loaded on first connect
   */
  WebSocket?: WebSocketConstructor;
  /** A token sent with `auth` right after every `welcome`. Use {@link getToken} for tokens that expire. */
  token?: string;
  /**
   * Called for a token before every `auth` (after each `welcome`, and when the server asks for a `refresh`). With it,
   * an `UNAUTHORIZED` answer or a 4001 close is retried with backoff (with a fresh token); without it the client stops
   * in status `unauthorized`.
   */
  getToken?: () => string | Promise<string>;
  /**
   * Connect at construction. Leave it off where no socket should be opened (server-side rendering, tests) and call
   * `connect()`.
   * @default false
   */
  autoConnect?: boolean;
  /**
   * Reconnect behaviour; `false` turns automatic reconnection off (the client then stops at `disconnected` when the
   * connection is lost).
   * @default { initialDelayMs: 500, maxDelayMs: 10_000, factor: 2, stableAfterMs: 5_000 }
   */
  reconnect?: Partial<ReconnectOptions> | false;
  /**
   * How long one connection attempt may take, from opening the socket to `welcome` (and `auth`, when a token is
   * used), in ms. A slower attempt is abandoned and retried.
   * @default 10_000
   */
  connectTimeoutMs?: number;
  /**
   * How long the connection may stay silent (no message, no server `ping`) before it is considered dead and
   * replaced, in ms.
   * @default twice the server's `heartbeatMs` (from `welcome`) plus 1_000
   */
  heartbeatTimeoutMs?: number;
  /**
   * How long a publish may wait for its ack, from the call, in ms (offline time included). Past it the promise
   * rejects with `UNAVAILABLE`.
   * @default 30_000
   */
  publishTimeoutMs?: number;
  /**
   * How long `auth` and `presence()` may wait for their answer, in ms.
   * @default 10_000
   */
  requestTimeoutMs?: number;
  /**
   * The most publishes waiting while the client is not connected (sent-but-unacknowledged ones included); a
   * further publish is rejected with `LIMIT_EXCEEDED`. They are sent in order once connected.
   * @default 100
   */
  maxQueuedPublishes?: number;
  /**
   * The largest frame the client sends, in UTF-8 bytes: a publish larger than this is rejected at once with
   * `PAYLOAD_TOO_LARGE`. Match the server's `limits.maxPayloadBytes`.
   * @default 65_536
   */
  maxPayloadBytes?: number;
  /**
   * The most commands batched into one frame (the server accepts at most 100).
   * @default 50
   */
  maxCommandsPerFrame?: number;
  /**
   * Share one connection between the tabs of this origin (browsers): the tabs elect a leader with Web Locks that
   * holds the only WebSocket; the others relay their commands and receive their messages through it over a
   * `BroadcastChannel`. When the leader tab closes, another takes over and every tab resubscribes from its position,
   * so nothing is lost. Each client keeps its own subscriptions, recovery, publish queue and store. Where the browser
   * lacks `BroadcastChannel` or Web Locks (or in Node), each tab has its own connection. The code is loaded on the
   * first connection attempt, only by clients that set this. `client.connectionSharing` tells the tab's part.
   * @default false
   */
  shareConnection?: boolean | SharedConnectionOptions;
}

/** Defaults of {@link ReconnectOptions}. */
export const DEFAULT_RECONNECT_OPTIONS: Readonly<ReconnectOptions> = {
  initialDelayMs: 500,
  maxDelayMs: 10_000,
  factor: 2,
  stableAfterMs: 5_000,
};

/** Defaults of the numeric {@link UnisocketClientOptions}. */
export const DEFAULT_CLIENT_OPTIONS = {
  connectTimeoutMs: 10_000,
  publishTimeoutMs: 30_000,
  requestTimeoutMs: 10_000,
  maxQueuedPublishes: 100,
  maxPayloadBytes: 65_536,
  maxCommandsPerFrame: 50,
} as const;

/** The options with every default applied. */
export interface ResolvedClientOptions {
  url: string | readonly string[] | (() => string);
  transport: 'native' | 'socketio' | TransportFactory;
  WebSocket: WebSocketConstructor | undefined;
  io: SocketIoConnect | undefined;
  token: string | undefined;
  getToken: (() => string | Promise<string>) | undefined;
  autoConnect: boolean;
  reconnect: Readonly<ReconnectOptions> | false;
  connectTimeoutMs: number;
  heartbeatTimeoutMs: number | undefined;
  publishTimeoutMs: number;
  requestTimeoutMs: number;
  maxQueuedPublishes: number;
  maxPayloadBytes: number;
  maxCommandsPerFrame: number;
  shareConnection: SharedConnectionOptions | false;
}

const KNOWN = new Set<string>([
  'url',
  'transport',
  'WebSocket',
  'io',
  'token',
  'getToken',
  'autoConnect',
  'reconnect',
  'connectTimeoutMs',
  'heartbeatTimeoutMs',
  'publishTimeoutMs',
  'requestTimeoutMs',
  'maxQueuedPublishes',
  'maxPayloadBytes',
  'maxCommandsPerFrame',
  'shareConnection',
]);

/**
 * Applies the defaults once and checks every option.
 * @throws {TypeError} for a missing `url`, an unknown option, a bad value or a contradiction, saying what to change
 */
export function resolveClientOptions(options: UnisocketClientOptions): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createClient(options): options must be an object with at least `url`');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new TypeError(`unknown client option "${key}"; known options: ${[...KNOWN].join(', ')}`);
  }
  let url: string | readonly string[] | (() => string) = options.url;
  if (typeof url === 'string') {
    if (url === '') throw new TypeError('url must not be empty: pass the server endpoint, e.g. "wss://example.com/ws"');
  } else if (Array.isArray(url)) {
    url = validateUrlList(url);
  } else if (typeof url !== 'function') {
    throw new TypeError(
      'url is required: pass the server endpoint, e.g. "wss://example.com/ws", a list of them, or a function returning one',
    );
  }
  const transport = options.transport ?? 'native';
  if (transport !== 'native' && transport !== 'socketio' && typeof transport !== 'function') {
    throw new TypeError(
      `transport must be 'native', 'socketio' or a transport factory function, got ${JSON.stringify(transport)}`,
    );
  }
  if (options.io !== undefined && typeof options.io !== 'function') {
    throw new TypeError("io must be socket.io-client's io function (import { io } from 'socket.io-client')");
  }
  if (options.io !== undefined && transport !== 'socketio') {
    throw new TypeError(
      "io is used by transport: 'socketio' only; set transport: 'socketio' (or pass io to your transport factory)",
    );
  }
  if (options.WebSocket !== undefined && typeof options.WebSocket !== 'function') {
    throw new TypeError('WebSocket must be a WebSocket constructor (e.g. `import WebSocket from "ws"`)');
  }
  if (options.WebSocket !== undefined && transport !== 'native') {
    throw new TypeError('WebSocket is used by the native transport only; pass it to your transport factory instead');
  }
  if (options.token !== undefined && options.getToken !== undefined) {
    throw new TypeError('set either token or getToken, not both (getToken is called for every auth)');
  }
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token === '')) {
    throw new TypeError('token must be a non-empty string');
  }
  if (options.getToken !== undefined && typeof options.getToken !== 'function') {
    throw new TypeError('getToken must be a function returning a token (or a promise of one)');
  }
  if (options.autoConnect !== undefined && typeof options.autoConnect !== 'boolean') {
    throw new TypeError('autoConnect must be a boolean');
  }
  return {
    url,
    transport,
    WebSocket: options.WebSocket,
    io: options.io,
    token: options.token,
    getToken: options.getToken,
    autoConnect: options.autoConnect ?? false,
    reconnect: resolveReconnect(options.reconnect),
    connectTimeoutMs: integer('connectTimeoutMs', options.connectTimeoutMs, DEFAULT_CLIENT_OPTIONS.connectTimeoutMs, 1),
    heartbeatTimeoutMs:
      options.heartbeatTimeoutMs === undefined
        ? undefined
        : integer('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 0, 1),
    publishTimeoutMs: integer('publishTimeoutMs', options.publishTimeoutMs, DEFAULT_CLIENT_OPTIONS.publishTimeoutMs, 1),
    requestTimeoutMs: integer('requestTimeoutMs', options.requestTimeoutMs, DEFAULT_CLIENT_OPTIONS.requestTimeoutMs, 1),
    maxQueuedPublishes: integer(
      'maxQueuedPublishes',
      options.maxQueuedPublishes,
      DEFAULT_CLIENT_OPTIONS.maxQueuedPublishes,
      0,
    ),
    maxPayloadBytes: integer('maxPayloadBytes', options.maxPayloadBytes, DEFAULT_CLIENT_OPTIONS.maxPayloadBytes, 64),
    maxCommandsPerFrame: integer(
      'maxCommandsPerFrame',
      options.maxCommandsPerFrame,
      DEFAULT_CLIENT_OPTIONS.maxCommandsPerFrame,
      1,
      100,
    ),
    shareConnection: resolveShareConnection(options.shareConnection),
  };
}

const SHARE_KEYS = new Set(['key', 'replayBufferSize', 'signal', 'BroadcastChannel', 'locks']);

function resolveShareConnection(given: boolean | SharedConnectionOptions | undefined): SharedConnectionOptions | false {
  if (given === undefined || given === false) return false;
  if (given === true) return {};
  if (typeof given !== 'object' || given === null) {
    throw new TypeError('shareConnection must be a boolean or an object ({ key, replayBufferSize, signal })');
  }
  for (const key of Object.keys(given)) {
    if (!SHARE_KEYS.has(key))
      throw new TypeError(`unknown option shareConnection.${key}; known options: ${[...SHARE_KEYS].join(', ')}`);
  }
  if (given.key !== undefined && (typeof given.key !== 'string' || given.key === '')) {
    throw new TypeError('shareConnection.key must be a non-empty string');
  }
  if (given.replayBufferSize !== undefined)
    integer('shareConnection.replayBufferSize', given.replayBufferSize, 0, 0, 100_000);
  return { ...given };
}

function resolveReconnect(given: Partial<ReconnectOptions> | false | undefined): Readonly<ReconnectOptions> | false {
  if (given === false) return false;
  if (given === undefined) return DEFAULT_RECONNECT_OPTIONS;
  if (typeof given !== 'object' || given === null) {
    throw new TypeError('reconnect must be an object ({ initialDelayMs, maxDelayMs, factor, stableAfterMs }) or false');
  }
  for (const key of Object.keys(given)) {
    if (!(key in DEFAULT_RECONNECT_OPTIONS)) {
      throw new TypeError(
        `unknown option reconnect.${key}; known options: ${Object.keys(DEFAULT_RECONNECT_OPTIONS).join(', ')}`,
      );
    }
  }
  const d = DEFAULT_RECONNECT_OPTIONS;
  const resolved: ReconnectOptions = {
    initialDelayMs: integer('reconnect.initialDelayMs', given.initialDelayMs, d.initialDelayMs, 0),
    maxDelayMs: integer('reconnect.maxDelayMs', given.maxDelayMs, d.maxDelayMs, 0),
    factor: given.factor ?? d.factor,
    stableAfterMs: integer('reconnect.stableAfterMs', given.stableAfterMs, d.stableAfterMs, 0),
  };
  if (typeof resolved.factor !== 'number' || !Number.isFinite(resolved.factor) || resolved.factor < 1) {
    throw new TypeError(`reconnect.factor must be a number >= 1, got ${String(given.factor)}`);
  }
  if (resolved.maxDelayMs < resolved.initialDelayMs) {
    throw new TypeError(
      `reconnect.maxDelayMs (${resolved.maxDelayMs}) must be >= reconnect.initialDelayMs (${resolved.initialDelayMs})`,
    );
  }
  return resolved;
}

function integer(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new TypeError(`${name} must be an integer ${range}, got ${String(value)}`);
  }
  return value;
}

/**
 * The URL of one connection attempt: `http(s)` becomes `ws(s)`, and in a browser a relative URL is resolved
 * against the page.
 * @throws {TypeError} when the result is not a ws(s) URL
 */
export function resolveUrl(url: string): string {
  let resolved = url;
  const location = (globalThis as { location?: { href?: string } }).location;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(url) && typeof location?.href === 'string') {
    resolved = new URL(url, location.href).href;
  }
  if (/^http:/i.test(resolved)) resolved = `ws:${resolved.slice(5)}`;
  else if (/^https:/i.test(resolved)) resolved = `wss:${resolved.slice(6)}`;
  if (!/^wss?:\/\//i.test(resolved)) {
    throw new TypeError(
      `url must be a ws://, wss://, http:// or https:// URL (or a path in a browser), got ${JSON.stringify(url)}`,
    );
  }
  return resolved;
}

/**
 * Validates a list of server URLs given as `url`.
 * @throws {TypeError} for an empty list, an entry that is not a ws(s)/http(s) URL (or a path in a browser), or a
 *   server listed twice
 */
export function validateUrlList(urls: readonly unknown[]): string[] {
  if (urls.length === 0) {
    throw new TypeError('url must not be an empty list: pass one endpoint or several, e.g. ["wss://a.example/ws"]');
  }
  const seen = new Map<string, number>();
  return urls.map((url, i) => {
    if (typeof url !== 'string' || url === '') {
      throw new TypeError(`url[${i}] must be a non-empty string (a server endpoint), got ${JSON.stringify(url)}`);
    }
    let resolved: string;
    try {
      resolved = resolveUrl(url);
    } catch (error) {
      throw new TypeError(`url[${i}]: ${(error as Error).message}`);
    }
    // a repeated server would be tried again right after it was lost: the rotation must leave a dead node behind
    const first = seen.get(resolved);
    if (first !== undefined) {
      throw new TypeError(`url[${i}] repeats url[${first}] (${resolved}): list each server once`);
    }
    seen.set(resolved, i);
    return url;
  });
}
