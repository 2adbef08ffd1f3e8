import type { MonitorOptions } from '@unisocket/monitoring';
import type {
  BackpressureOptions,
  BatchOptions,
  Broker,
  HistoryOptions,
  HubLimits,
  PresenceOptions,
  RecoveryOptions,
} from '@unisocket/core';
import type { AuthOptions, PermissionOptions, SecurityOptions } from './auth-options';
import type { LeakDetectorOptions, MemoryThresholds } from '@unisocket/memory';
import type { PusherOptions } from '@unisocket/transport-pusher';
import type { OperationsOptions, QueueServiceOptions } from './operations/options';
import type { WebhooksOption } from './webhooks';
import type { AdminOptions } from './admin/options';
import type { SocketIoServerOptionsLike } from './socketio-types';

/** A transport a service can run. */
export type TransportName = 'native' | 'socketio' | 'pusher';

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
  serverOptions?: SocketIoServerOptionsLike;
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
  /**
   * The job queue API (API key required): `GET` counts, schedules and breakers; `GET …/dead-letters`; `POST
   * …/dead-letters/<queue>/<id>/retry`; `DELETE …/dead-letters/<queue>/<id>`.
   * @default '/queue'
   */
  queue: string;
}

/**
 * Two different memories of ids, both bounded: the ids of messages recently delivered (a message the broker delivers
 * twice is dropped) and the idempotency keys of recent publishes (a retried publish is acked with its first offset,
 * not published twice).
 */
export interface DedupeOptions {
  /**
   * How many recently delivered message ids each node remembers to drop a message the broker delivers twice (the
   * broker's `deliveredIdsWindow`; every broker). A count, not a time.
   * @default 10_000
   */
  deliveredIds?: number;
  /**
   * How many publish idempotency keys (`PublishOptions.id`) are remembered at most (the memory broker's
   * `idempotencyCacheSize`, also Kafka's; memory pressure shrinks the memory broker's for a while).
   * @default 10_000
   */
  idempotencyKeys?: number;
  /**
   * How long a publish idempotency key is remembered, in ms (the broker's `idempotencyWindowMs`).
   * @default 60_000
   */
  idempotencyWindowMs?: number;
  /**
   * @deprecated Use {@link deliveredIds} and {@link idempotencyKeys} (this old name sets both).
   */
  cacheSize?: number;
  /** @deprecated Use {@link idempotencyWindowMs}. */
  windowMs?: number;
}

/** Leak detection of the service (see `LeakDetector` in `@unisocket/memory`). */
export interface LeakDetectionOptions
  extends Pick<
    LeakDetectorOptions,
    'windowMs' | 'buckets' | 'minBuckets' | 'minGrowthBytes' | 'minGrowthPercent' | 'minR2'
  > {
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
  /**
   * The single-transport form of earlier versions: `adapter: 'socketio'` is `transports: ['socketio']`.
   * @deprecated Use {@link transports}.
   */
  adapter?: TransportName;
  /**
   * The path of the native WebSocket endpoint.
   * @default '/ws'
   */
  path?: string;
  /** The Socket.IO transport's options (only with `transports` including `'socketio'`). */
  socketio?: SocketIoServiceOptions;
  /**
   * The Pusher Channels transport's options (required with `transports` including `'pusher'`): `apps` (`[{ id, key,
   * secret, maxEventBytes?, clientEvents?, clientEventsPerSecond?, maxPresenceMembers? }]`; the first app shares its
   * channels with the native and Socket.IO transports, the others are isolated), `path` (`'/app'`), `restPath`
   * (`'/apps'`), `activityTimeoutSec` (120). See `@unisocket/transport-pusher`.
   */
  pusher?: PusherOptions;
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
  /** Delivered-id and idempotency-key memories (maps DEDUPE_CACHE_SIZE / DEDUPE_WINDOW). */
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
   * The reconnect advice of `shutdown()`: every connection is closed with 1001 and the reason
   * `server shutting down; retry-after-ms=<n>`, `n` drawn per connection from `[0, reconnectSpreadMs]`, so the node's
   * clients come back (to the other nodes) spread over that window instead of all at once. `@unisocket/client`
   * honours it; other clients see the usual 1001. `'auto'` spreads about 2 reconnects per ms: `connections / 2` ms,
   * at least 1_000 and at most 5_000. `0` sends no advice. At most 60_000. See docs/deploys.md.
   * @default 'auto'
   */
  reconnectSpreadMs?: number | 'auto';
  /**
   * The per-node recovery budget: at most `maxConcurrent` subscriptions replay history at once, the others wait in a
   * FIFO queue of at most `maxQueued` (past it a subscribe gets `UNAVAILABLE`). Identical history reads of a
   * reconnect storm are merged whatever the budget. See docs/deploys.md.
   * @default { maxConcurrent: 128, maxQueued: 100_000 }
   */
  recovery?: RecoveryOptions;
  /**
   * How long an HTTP upgrade request may stay unanswered before it is answered (408 on the service's own paths, 404
   * elsewhere) and its socket closed, in ms. Node's header and request timeouts stop applying once a socket is
   * handed to `upgrade` handlers; this bounds it again for every path, your own upgrade handlers' included (an
   * upgrade they answer in time is theirs). `0` turns the deadline off. An upgrade on a path nothing serves is
   * answered with 404 at once when the service's transports are the server's only `upgrade` listeners.
   * @default 10_000
   */
  upgradeTimeoutMs?: number;
  /**
   * Webhooks: POST the lifecycle events (`channel_occupied`, `channel_vacated`, `member_added`, `member_removed`,
   * `cache_miss`; `client_event`, `connection_opened`, `connection_closed` when listed) to your endpoints with the
   * Pusher webhook body and signature headers, batched, retried with backoff, behind a circuit breaker per endpoint;
   * durable with a Redis queue. `[{ url, events?, channelPattern? }]` or `{ endpoints, ...defaults }` (see
   * docs/webhooks.md). Maps `WEBHOOK_URL`, `WEBHOOK_EVENTS`, `WEBHOOK_SECRET`, `WEBHOOK_KEY`.
   * @default undefined (none)
   */
  webhooks?: WebhooksOption;
  /**
   * The job queues behind `service.queue` (queued, delayed and recurring broadcasts) and the webhooks: on BullMQ with
   * a Redis (durable), in memory otherwise.
   * @default the broker's Redis with `broker: { type: 'redis' }`, else in memory
   */
  queue?: QueueServiceOptions;
  /**
   * Operational events (retries, breaker changes, scheduler runs, webhook deliveries, dead-letter entries) on the
   * channels `sys.error-recovery`, `sys.scheduler`, `sys.webhook` and `sys.dlq`, which only connections that
   * `operations.authorize` permits may subscribe to.
   * @default { channels: { prefix: 'sys.' } } and nobody permitted
   */
  operations?: OperationsOptions;
  /** Lifecycle events. */
  lifecycle?: {
    /**
     * How long `channel_vacated` waits after a channel's last subscriber left (on every node); a subscriber back in
     * time cancels it (and the `channel_occupied` that would follow). `member_removed` waits `presence.leaveGraceMs`.
     * @default presence.leaveGraceMs (3_000)
     */
    vacateGraceMs?: number;
  };
  /**
   * The admin inspector at `path` (`'/admin'`): a page and a JSON API under `<path>/api/…` listing this node's
   * connections, channels, presence and history, publishing and disconnecting (see docs/admin.md). Off unless given;
   * `token` (at least 16 characters) is required on every API request as `Authorization: Bearer`. Maps `ADMIN_TOKEN`.
   * @default undefined (off: the path is not served)
   */
  admin?: AdminOptions;
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
  queue: '/queue',
};
