import type { IncomingMessage } from 'node:http';
import type { KeyObject } from 'node:crypto';
import type { MonitorOptions } from '@unisocket/monitoring';
import {
  type BackpressureOptions,
  type BatchOptions,
  type Broker,
  type ChannelName,
  type Connection,
  type HistoryOptions,
  type HubLimits,
  type Identity,
  type MaybePromise,
  type PresenceOptions,
  type SubscribeContext,
  type SubscribeGrant,
  compilePattern,
} from '@unisocket/core';
import type { JWTPayload } from 'jose';
import type { LeakDetectorOptions, MemoryThresholds } from '@unisocket/memory';
import type { SocketIoServerOptions } from '@unisocket/transport-socketio';

/** A transport a service can run. */
export type TransportName = 'native' | 'socketio';

/**
 * The Socket.IO transport (`@unisocket/transport-socketio`, install it with `socket.io`), when `transports` includes
 * `'socketio'`.
 */
export interface SocketIoServiceOptions {
  /**
   * The path Socket.IO serves.
   * @default '/socket.io'
   */
  path?: string;
  /**
   * Options for the Socket.IO server (`cors`, `transports`, `serveClient`, …; see `@unisocket/transport-socketio`).
   * `perMessageDeflate` and `connectionStateRecovery` cannot be turned on.
   */
  serverOptions?: Partial<SocketIoServerOptions>;
  /**
   * Install `@socket.io/redis-adapter` on `service.io` (sharded Pub/Sub on Redis 7+), so that the application's own
   * `io.to(room).emit`, `fetchSockets()` and `serverSideEmit()` reach every node: `{ url }` or
   * `{ pubClient, subClient }`, plus `sharded` (`'auto'`), `channelPrefix`, `connectTimeoutMs`; `false` for none.
   * @default with `broker: { type: 'redis', url }`: `{ url, channelPrefix: '<keyPrefix>socket.io' }`; otherwise none
   */
  redisAdapter?:
    | false
    | {
        url?: string;
        pubClient?: unknown;
        subClient?: unknown;
        sharded?: boolean | 'auto';
        channelPrefix?: string;
        connectTimeoutMs?: number;
      };
}

/** Which broker connects the nodes. */
export type BrokerConfig =
  | { type: 'memory'; history?: HistoryOptions }
  /** `@unisocket/broker-redis` (install it): every `RedisBrokerOptions` field is accepted here. */
  | { type: 'redis'; url?: string; keyPrefix?: string; history?: HistoryOptions; [option: string]: unknown }
  /** `@unisocket/broker-kafka` (install it): every `KafkaBrokerOptions` field is accepted here. */
  | { type: 'kafka'; brokers: string[]; history?: HistoryOptions; [option: string]: unknown };

/** Limits of a service: per-connection limits of the Hub plus admission limits at upgrade time. */
export interface ServiceLimits extends HubLimits {
  /**
   * Connections this node accepts, counting upgrades still being admitted; further upgrades get HTTP 503 before a
   * WebSocket exists.
   * @default 10_000
   */
  maxConnections: number;
  /**
   * Connections one IP address may hold on this node, counting its upgrades still being admitted (a burst cannot
   * overshoot while tokens are verified); further upgrades get HTTP 429.
   * @default 100
   */
  maxConnectionsPerIp: number;
}

/** Keys that verify JWTs: exactly one of `secret`, `publicKey`, `jwksUrl`. */
export interface JwtKeyOptions {
  /**
   * The HMAC secret (HS256/HS384/HS512), at least 32 bytes (RFC 7518 §3.2).
   * @default undefined
   */
  secret?: string | Uint8Array;
  /**
   * A public key: PEM (SPKI or X.509 certificate) or a `KeyObject` (RS256…, PS256…, ES256/ES384/ES512, EdDSA).
   * @default undefined
   */
  publicKey?: string | KeyObject;
  /**
   * A JWKS URL (e.g. `https://issuer/.well-known/jwks.json`), fetched and cached by `jose.createRemoteJWKSet`;
   * a token's `kid` picks the key. When the keys cannot be fetched, upgrades get 503 and `auth` gets `UNAVAILABLE`.
   * @default undefined
   */
  jwksUrl?: string | URL;
  /**
   * Accepted `alg` values. Must fit the key: `HS*` for a secret, asymmetric algorithms for a public key or JWKS.
   * `none` is never accepted.
   * @default every algorithm that fits the key: ['HS256','HS384','HS512'] for a secret; for a public key the
   *   algorithms of its type (RSA: RS*, PS*; EC: the curve's ES*; Ed25519: EdDSA); for JWKS RS*, PS*, ES*, EdDSA
   */
  algorithms?: string[];
  /**
   * The required `iss` (one or several accepted).
   * @default undefined (not checked)
   */
  issuer?: string | string[];
  /**
   * The required `aud` (one or several accepted).
   * @default undefined (not checked)
   */
  audience?: string | string[];
  /**
   * Clock skew tolerated when checking `exp` and `nbf`, in seconds. It does not extend a connection: the
   * `refresh`/4001 timer runs on `exp` itself.
   * @default 5
   */
  clockToleranceSec?: number;
}

/** Connection tokens as JWTs. */
export interface JwtOptions extends JwtKeyOptions {
  /**
   * Refuse tokens without `exp`. A token without one would keep its connection authenticated forever.
   * @default true
   */
  requireExpiry?: boolean;
  /**
   * Maps verified claims to the identity. `userId` becomes the connection's user (`user:<userId>` is its personal
   * channel when it fits the channel alphabet); `info` is shown to presence members. `expiresAt` is always the
   * token's `exp` (a mapper cannot extend it). Return `null` to refuse the token.
   * @default (claims) => ({ userId: claims.sub, info: claims.info })
   */
  mapClaims?: (claims: JWTPayload) => MaybePromise<{ userId: string; info?: unknown } | null>;
}

/** Pusher-style HMAC channel authorization: `<key>:<hex hmac-sha256(secret, "<connectionId>:<channel>[:<channelData>]")>`. */
export interface HmacKey {
  /** The public key id that prefixes each signature (Pusher's app key). */
  key: string;
  /** The shared secret the backend signs with, at least 32 bytes. */
  secret: string | Uint8Array;
}

/**
 * Signed subscription tokens for `private-` and `presence-` channels, sent in the `subscribe` command's `token`.
 * A token that fits one of the configured forms decides the subscription on its own; without a token (or when the
 * form is not configured), `authorizeChannel` decides.
 */
export interface SubscriptionTokenOptions {
  /**
   * JWT subscription tokens: `sub` must be the connection's user, `channel` (see {@link channelClaim}) the channel,
   * `exp` is required; an `info` claim becomes the presence info. `true` verifies them with `auth.jwt`'s keys,
   * an object with keys of their own, `false` turns them off.
   * @default true when `auth.jwt` is set, otherwise false
   */
  jwt?: boolean | JwtKeyOptions;
  /**
   * Pusher-style HMAC signatures, bound to the connection id (`welcome.connectionId`). On presence channels the
   * signed `channelData` (`{"user_id":…,"user_info":…}`) names the member, so an anonymous connection can join with
   * the identity the backend vouched for. Several keys may be listed to rotate secrets.
   * @default undefined (off)
   */
  hmac?: HmacKey | HmacKey[];
  /**
   * The claim of a JWT subscription token that holds the channel. Connection tokens carrying it are refused, so one
   * kind of token cannot stand in for the other.
   * @default 'channel'
   */
  channelClaim?: string;
}

/** What {@link AuthOptions.authenticate} receives. */
export interface AuthRequest {
  /**
   * The token found in the request (header, query, cookie), in the Socket.IO handshake (`auth.token`), or sent with
   * the `auth` command.
   */
  token: string | undefined;
  /** Where the token came from. */
  source: 'handshake' | 'header' | 'query' | 'cookie' | 'command' | undefined;
  /** The upgrade request (at upgrade time; Socket.IO: its first handshake request), to read a session cookie or another header. */
  request: IncomingMessage | undefined;
  /** The connection (for the `auth` command). */
  connection: Connection | undefined;
}

/** Authentication and channel authorization. */
export interface AuthOptions {
  /**
   * Connection tokens as JWTs (Centrifugo-style): `sub` becomes the user, `info` the presence info, and `exp` is
   * enforced during the connection (`refresh` frame, then 4001). Exclusive with {@link authenticate}.
   * @default undefined (no JWT authentication)
   */
  jwt?: JwtOptions;
  /**
   * A custom scheme instead of JWT: called at upgrade (with the request and the token found in it, if any) and for
   * each `auth` command (with the connection and its token). Return the identity, `null` for anonymous, or throw a
   * `UnisocketError` to refuse with its code and message (at upgrade: its `httpStatus`, default 401; e.g.
   * `UNAVAILABLE`/503 when a session store is down). Any other error refuses with 401 "authentication failed".
   * Exclusive with {@link jwt}.
   * @default undefined
   */
  authenticate?: (request: AuthRequest) => MaybePromise<Identity | null | undefined>;
  /**
   * Refuse upgrades without a valid token (HTTP 401). Otherwise anonymous connections are accepted and may send
   * `auth` later (browsers cannot set headers; the query parameter and the cookie are the other ways in).
   * @default false
   */
  required?: boolean;
  /**
   * The query parameter a token may come in (`/ws?token=…`); `false` to accept tokens only in the
   * `Authorization: Bearer` header, a cookie or the `auth` command (query strings end up in access logs).
   * @default 'token'
   */
  queryParam?: string | false;
  /**
   * The cookie a token may come in. Cookies ride along cross-site: with a cookie set, `security.allowedOrigins`
   * must be set too (cross-site WebSocket hijacking).
   * @default undefined (no cookie)
   */
  cookie?: string;
  /**
   * Decides subscriptions to public, private and presence channels that no subscription token decided. Return
   * `true` (or a grant with presence `info`) to allow, `false` to refuse, or throw a `UnisocketError` with a
   * message that says why. Without it, public channels are open and private/presence channels need a token.
   * @default undefined
   */
  authorizeChannel?: (
    conn: Connection,
    channel: ChannelName,
    context: SubscribeContext,
  ) => MaybePromise<boolean | SubscribeGrant>;
  /** Signed subscription tokens for private and presence channels. */
  subscriptionTokens?: SubscriptionTokenOptions;
  /**
   * How long before a token's expiry the server sends `{"type":"refresh"}`, in ms (halfway through the remaining
   * lifetime when that is shorter).
   * @default 30_000
   */
  refreshLeadMs?: number;
  /**
   * How long after a token's expiry a connection may still send `auth` with a fresh token before it is closed
   * with 4001, in ms.
   * @default 10_000
   */
  refreshGraceMs?: number;
}

/** Defaults of {@link AuthOptions}. */
export const DEFAULT_AUTH_OPTIONS = {
  required: false,
  queryParam: 'token',
  refreshLeadMs: 30_000,
  refreshGraceMs: 10_000,
  clockToleranceSec: 5,
  requireExpiry: true,
  channelClaim: 'channel',
} as const;

/** Who may publish from a client. */
export interface PermissionOptions {
  /**
   * Channel patterns clients may publish on: `*` matches any run of characters within a name (`chat.*`), and
   * the kind keywords `public`, `private`, `presence` match every channel of that kind. Or a function deciding each
   * publish. Clients may not publish at all by default. Whatever this says, a client publishes on a private or
   * presence channel only while subscribed to it (authorized).
   * @default []
   */
  publish?: string[] | ((conn: Connection, channel: ChannelName, event: string) => MaybePromise<boolean>);
  /**
   * Whispers (Laravel Echo / Pusher client events): a connection subscribed to a private or presence channel may
   * publish events named `client-…` on it, which reach the channel's subscribers (the sender included).
   * @default false
   */
  whisper?: boolean;
}

/** Who may connect at all: origins and proxies. */
export interface SecurityOptions {
  /**
   * Browser origins allowed to open a WebSocket: exact origins (`https://app.example.com`), a wildcard subdomain
   * (`https://*.example.com`), or `'*'` for any. A browser upgrade from another origin gets HTTP 403 before the
   * WebSocket exists. Must be set when `auth.cookie` is.
   * @default ['*']
   */
  allowedOrigins?: string[];
  /**
   * Accept upgrades without an `Origin` header (non-browser clients: Node, mobile apps, curl).
   * @default true
   */
  allowMissingOrigin?: boolean;
  /**
   * Accept a browser upgrade whose `Origin` is this server itself (its host and port equal the `Host` header), even
   * when `allowedOrigins` does not list it: a page served by the same host is not cross-site.
   * @default true
   */
  allowSameOrigin?: boolean;
  /**
   * Trust `X-Forwarded-For` from this many proxy hops in front of the server (`true` is one) to find the client's
   * address for `maxConnectionsPerIp` and `conn.ip`. Leave it off when clients connect directly: they could forge it.
   * @default false
   */
  trustProxy?: boolean | number;
}

/** Defaults of {@link SecurityOptions}. */
export const DEFAULT_SECURITY_OPTIONS = {
  allowedOrigins: ['*'],
  allowMissingOrigin: true,
  allowSameOrigin: true,
  trustProxy: false,
} as const;

/** The HTTP API. */
export interface HttpOptions {
  /**
   * The key `POST /broadcast` requires as `Authorization: Bearer <key>`. Without it, `POST /broadcast` answers 403.
   */
  apiKey?: string;
  /** Paths of the endpoints. */
  paths?: Partial<HttpPaths>;
  /**
   * The largest accepted request body, in bytes; larger bodies get 413 (at once when `Content-Length` says so,
   * else as soon as the streamed bytes pass it) and the connection is closed.
   * @default 1_048_576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * The most bytes all request bodies being read at once may hold together, across this service's HTTP API. A body
   * counts its declared `Content-Length` from the start (a chunked body, its bytes as they arrive) until it is read,
   * fails or its connection closes. A body that would go over gets 503 with `Retry-After: 1` and the connection is
   * closed, so many slow or concurrent bodies cannot grow the server's memory. Must be at least `maxBodyBytes`.
   * @default 16_777_216 (16 MiB), or `maxBodyBytes` when that is larger
   */
  maxPendingBodyBytes?: number;
  /**
   * The most request bodies read at once; a further one gets 503 with `Retry-After: 1` and the connection is closed.
   * @default 256
   */
  maxConcurrentBodies?: number;
  /**
   * How long a request body may take to arrive in full, in ms, from the moment it starts being read (a total, not an
   * idle timeout: a trickling body is cut too). A body not complete in time gets 408 and its connection is closed.
   * The same bound applies to bodies discarded after an early answer (401, 403, 415).
   * @default 10_000
   */
  bodyTimeoutMs?: number;
  /**
   * CORS for the HTTP API endpoints (maps `CORS_ORIGIN`): `Access-Control-Allow-Origin` for allowed origins and
   * answers to preflight `OPTIONS` requests. Off by default (same-origin only).
   */
  cors?: CorsOptions;
}

/** Defaults of the HTTP API's body limits ({@link HttpOptions}). */
export const DEFAULT_HTTP_BODY_LIMITS = {
  maxBodyBytes: 1_048_576,
  maxPendingBodyBytes: 16_777_216,
  maxConcurrentBodies: 256,
  bodyTimeoutMs: 10_000,
} as const;

/** CORS for the HTTP API. */
export interface CorsOptions {
  /** `'*'`, one origin (`'https://app.example.com'`), a comma-separated list, or an array of origins. */
  origin: string | string[];
  /**
   * How long browsers may cache a preflight answer, in seconds.
   * @default 600
   */
  maxAgeSeconds?: number;
}

/** Monitoring: statistics, health, Prometheus metrics and the stats channel. */
export interface ServiceMonitoringOptions
  extends Pick<MonitorOptions, 'memory' | 'memoryThresholds' | 'eventLoop' | 'registry' | 'defaultMetrics'> {
  /**
   * How many recent publish→flush latency samples (one per flushed batch) the Hub keeps for `getStats().latency`.
   * @default 1_024
   */
  latencySamples?: number;
  /**
   * Publish a stats snapshot (`MonitorSample`: connections, rates per second, latency, memory, event-loop lag,
   * health) as event `stats` on a channel every `intervalMs`, e.g. for a live dashboard. `true` means
   * `{ channel: 'sys.stats', intervalMs: 1000 }`. Any client allowed to subscribe to the channel sees it; keep
   * clients from publishing on it.
   * @default false
   */
  statsChannel?: boolean | { channel?: string; intervalMs?: number };
}

/** Paths of the HTTP API. */
export interface HttpPaths {
  /** @default '/health' */
  health: string;
  /** @default '/stats' */
  stats: string;
  /** @default '/metrics' */
  metrics: string;
  /** @default '/api/websocket/status' */
  status: string;
  /** @default '/broadcast' */
  broadcast: string;
}

/** Deduplication caches (the unified-service seed's `DEDUPE_CACHE_SIZE` and `DEDUPE_WINDOW`). */
export interface DedupeOptions {
  /**
   * How many ids each dedup cache remembers (maps `DEDUPE_CACHE_SIZE`): the broker's window of recently delivered
   * message ids (a message the backend delivers twice is dropped) and, on the memory broker, the cache of publish
   * idempotency keys (a retried publish is acked with the original offset, not published twice).
   * @default 10_000
   */
  cacheSize?: number;
  /**
   * How long a publish idempotency key is remembered, in ms (maps `DEDUPE_WINDOW`; memory broker).
   * @default 60_000
   */
  windowMs?: number;
}

/** Leak detection of the service (see `LeakDetector` in `@unisocket/memory`). */
export interface LeakDetectionOptions
  extends Pick<LeakDetectorOptions, 'windowMs' | 'buckets' | 'minBuckets' | 'minGrowthBytes' | 'minGrowthPercent' | 'minR2'> {
  /**
   * More structures to watch besides the service's own (connections, channels, subscriptions, history messages,
   * buffered and backlog bytes, dedup entries): `{ name: size }`, read once per low point.
   */
  suspects?: () => Record<string, number>;
}

/**
 * Memory management: pressure levels with hysteresis and what the service does at each, and leak detection.
 *
 * Percentages are of `heapLimitBytes` (the live heap after major GCs), or of `rssLimitBytes` when that is higher.
 *
 * | level | entered at (default) | what the service does | undone when the pressure falls |
 * |---|---|---|---|
 * | warning | 70% | history per channel, the idempotency cache and the recovery buffer limit shrink to `shrinkFactor` of their size | sizes restored |
 * | critical | 85% | new connections refused (HTTP 503 at upgrade, close 4503 otherwise); `drop-oldest` channels shed | connections accepted, channels delivered |
 * | emergency | 95% | the connections holding the most unread bytes are closed with 4503 until at most `emergencyBufferedBytes` are held (checked again on every sample) | — |
 */
export interface MemoryOptions {
  /**
   * Sample memory and degrade when it runs short. Off, nothing is sampled and `forceMemoryAnalysis()` still answers.
   * @default true
   */
  enabled?: boolean;
  /**
   * Percent of the heap limit at which each level starts (maps `MEMORY_WARNING_THRESHOLD`,
   * `MEMORY_CRITICAL_THRESHOLD`, `MEMORY_EMERGENCY_THRESHOLD`).
   * @default { warning: 70, critical: 85, emergency: 95 }
   */
  thresholds?: Partial<MemoryThresholds>;
  /**
   * Points the pressure must fall below a level's threshold to leave the level.
   * @default 5
   */
  hysteresis?: number;
  /**
   * How often memory is sampled, in ms (maps `MEMORY_CHECK_INTERVAL`).
   * @default 5_000
   */
  sampleIntervalMs?: number;
  /**
   * The heap size the percentages refer to (100%), in bytes.
   * @default 80% of the old generation's limit (V8's `heap_size_limit` minus the young generation's reserve): above it V8
   *   aborts a process that spends most of its time collecting garbage, so every level acts before that
   */
  heapLimitBytes?: number;
  /**
   * An RSS budget (e.g. the container's memory limit); when set, RSS in percent of it counts as pressure too.
   * @default undefined
   */
  rssLimitBytes?: number;
  /**
   * At warning, the history size per channel, the idempotency cache and `limits.maxRecoveryBuffer` are multiplied by this.
   * @default 0.5
   */
  shrinkFactor?: number;
  /**
   * At emergency, connections are closed (heaviest first) until the unread bytes held for all connections are at
   * most this.
   * @default 5% of the heap limit
   */
  emergencyBufferedBytes?: number;
  /**
   * Leak detection, or `false` to turn it off.
   * @default { windowMs: 600_000 }
   */
  leakDetection?: LeakDetectionOptions | false;
}

/** Options of {@link createUnifiedWebSocketService}. Every field is optional; `createUnifiedWebSocketService()` works. */
export interface UnifiedWebSocketServiceOptions {
  /**
   * The transports to serve, on one Hub.
   * @default ['native']
   */
  transports?: TransportName[];
  /** The seed's single-transport form: `adapter: 'socketio'` is `transports: ['socketio']`. */
  adapter?: TransportName;
  /**
   * The path of the native WebSocket endpoint.
   * @default '/ws'
   */
  path?: string;
  /** The Socket.IO transport's options (only with `transports` including `'socketio'`). */
  socketio?: SocketIoServiceOptions;
  /**
   * This node's id (in connection and message ids, diagnostics and health).
   * @default a random 8-character id
   */
  nodeId?: string;
  /**
   * How nodes exchange messages: a config object or a broker instance.
   * @default { type: 'memory' }
   */
  broker?: BrokerConfig | Broker;
  /** Authentication and channel authorization. */
  auth?: AuthOptions;
  /** Client publish permissions. */
  permissions?: PermissionOptions;
  /** Connection limits. */
  limits?: Partial<ServiceLimits>;
  /** Allowed origins and trusted proxies. */
  security?: SecurityOptions;
  /**
   * Per-channel history for recovery (memory and Redis brokers — `maxChannels` applies to memory only — and for
   * Kafka the node's window of recent messages). May be given
   * here or in `broker.history`, not both.
   * @default { size: 100, ttlMs: 300_000 }
   */
  history?: HistoryOptions;
  /**
   * The heartbeat interval (WebSocket ping frames and the protocol `ping`); peers silent for two intervals are dropped.
   * @default 25_000
   */
  heartbeatMs?: number;
  /** Coalescing of messages into frames (maps MESSAGE_BATCH_SIZE / MESSAGE_BATCH_DELAY). */
  batch?: Partial<BatchOptions>;
  /**
   * What happens to clients that read slower than their channels publish, per channel pattern: `disconnect` (4008,
   * recover from history; the default), `drop-oldest` (volatile channels) or `coalesce-latest` (state channels).
   * The bound is `limits.maxBufferedBytes`.
   * @default { policies: [], default: 'disconnect' }
   */
  backpressure?: BackpressureOptions;
  /** Deduplication caches (maps DEDUPE_CACHE_SIZE / DEDUPE_WINDOW). */
  dedupe?: DedupeOptions;
  /**
   * Memory pressure levels, degradation and leak detection.
   * @default { thresholds: { warning: 70, critical: 85, emergency: 95 }, sampleIntervalMs: 5_000 }
   */
  memory?: MemoryOptions;
  /** Presence behaviour. */
  presence?: Partial<PresenceOptions>;
  /** The HTTP API. */
  http?: HttpOptions;
  /** Monitoring: memory level source, event-loop thresholds, Prometheus registry, the stats channel. */
  monitoring?: ServiceMonitoringOptions;
  /**
   * How long `shutdown()` waits for clients to complete the close handshake before dropping them, in ms.
   * @default 5_000
   */
  shutdownTimeoutMs?: number;
  /**
   * How long an HTTP upgrade request may stay unanswered before it is answered (408 on the service's own paths, 404
   * elsewhere) and its socket closed, in ms. Node's header and request timeouts stop applying once a socket is
   * handed to `upgrade` handlers; this bounds it again for every path, your own upgrade handlers' included (an
   * upgrade they answer in time is theirs). `0` turns the deadline off. An upgrade on a path nothing serves is
   * answered with 404 at once when the service's transports are the server's only `upgrade` listeners.
   * @default 10_000
   */
  upgradeTimeoutMs?: number;
}

/** Defaults of the admission limits. */
export const DEFAULT_ADMISSION_LIMITS = {
  maxConnections: 10_000,
  maxConnectionsPerIp: 100,
} as const;

/** Defaults of the HTTP paths. */
export const DEFAULT_HTTP_PATHS: Readonly<HttpPaths> = {
  health: '/health',
  stats: '/stats',
  metrics: '/metrics',
  status: '/api/websocket/status',
  broadcast: '/broadcast',
};

const TRANSPORTS: readonly TransportName[] = ['native', 'socketio'];
const KNOWN_OPTIONS = new Set([
  'transports',
  'adapter',
  'path',
  'socketio',
  'nodeId',
  'broker',
  'auth',
  'permissions',
  'limits',
  'security',
  'history',
  'heartbeatMs',
  'batch',
  'backpressure',
  'dedupe',
  'memory',
  'presence',
  'http',
  'monitoring',
  'shutdownTimeoutMs',
  'upgradeTimeoutMs',
]);

/** Resolves the transports, rejecting contradictions and unknown names with a `TypeError`. */
export function resolveTransports(options: UnifiedWebSocketServiceOptions): TransportName[] {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new TypeError(`unknown option "${key}"; known options: ${[...KNOWN_OPTIONS].join(', ')}`);
    }
  }
  const { transports, adapter } = options;
  if (adapter !== undefined && !TRANSPORTS.includes(adapter)) {
    throw new TypeError(`adapter must be 'native' or 'socketio', got ${JSON.stringify(adapter)}`);
  }
  if (transports === undefined) return [adapter ?? 'native'];
  if (!Array.isArray(transports) || transports.length === 0) {
    throw new TypeError(`transports must be a non-empty array of 'native' and/or 'socketio'`);
  }
  for (const t of transports) {
    if (!TRANSPORTS.includes(t)) {
      throw new TypeError(`unknown transport ${JSON.stringify(t)}: use 'native' and/or 'socketio'`);
    }
  }
  if (new Set(transports).size !== transports.length) {
    throw new TypeError(`transports lists a transport twice: ${JSON.stringify(transports)}`);
  }
  if (adapter !== undefined && !(transports.length === 1 && transports[0] === adapter)) {
    throw new TypeError(
      `adapter: '${adapter}' contradicts transports: ${JSON.stringify(transports)}; set only one of them`,
    );
  }
  return [...transports];
}

/** Checks the transport-specific options against the transports, with a `TypeError` that says what to change. */
export function validateTransportOptions(options: UnifiedWebSocketServiceOptions, transports: readonly TransportName[]): void {
  const socketio = options.socketio;
  if (socketio !== undefined) {
    if (typeof socketio !== 'object' || socketio === null) throw new TypeError('socketio must be an object');
    if (!transports.includes('socketio')) {
      throw new TypeError(
        `socketio options are set but the transports are ${JSON.stringify(transports)}: add 'socketio' to transports (or remove the socketio options)`,
      );
    }
    for (const key of Object.keys(socketio)) {
      if (!['path', 'serverOptions', 'redisAdapter'].includes(key)) {
        throw new TypeError(`unknown option socketio.${key}; known options: path, serverOptions, redisAdapter`);
      }
    }
    if (socketio.path !== undefined && (typeof socketio.path !== 'string' || !socketio.path.startsWith('/'))) {
      throw new TypeError(`socketio.path must start with "/", got ${JSON.stringify(socketio.path)}`);
    }
  }
  if (transports.includes('native') && transports.includes('socketio')) {
    const nativePath = trimSlash(options.path ?? '/ws');
    const socketioPath = trimSlash(socketio?.path ?? '/socket.io');
    if (nativePath === socketioPath) {
      throw new TypeError(
        `path and socketio.path are both ${JSON.stringify(nativePath)}: the native and Socket.IO transports need different paths`,
      );
    }
  }
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** Compiles publish permissions into a predicate. */
export function compilePublishPermission(
  publish: PermissionOptions['publish'],
): ((conn: Connection, channel: ChannelName, event: string) => MaybePromise<boolean>) | undefined {
  if (publish === undefined) return undefined;
  if (typeof publish === 'function') return publish;
  if (!Array.isArray(publish) || publish.some((p) => typeof p !== 'string' || p.length === 0)) {
    throw new TypeError('permissions.publish must be an array of channel patterns or a function');
  }
  if (publish.length === 0) return undefined;
  const matchers = publish.map(compilePattern);
  return (_conn, channel) => matchers.some((m) => m(channel));
}
