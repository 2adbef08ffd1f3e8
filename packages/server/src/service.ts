import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import {
  type Admission,
  type AdmissionContext,
  BROADCAST_CHANNEL,
  Broker,
  type ChannelName,
  CloseCode,
  type Connection,
  DEFAULT_HUB_LIMITS,
  ErrorCode,
  Hub,
  type Identity,
  type MaybePromise,
  MemoryBroker,
  type PublishAck,
  type PublishOptions,
  UnisocketError,
  type UserId,
  isPromiseLike,
  isValidChannelName,
  resolveBackpressure,
  resolveHistoryOptions,
  resolveNumbers,
  userChannel,
} from '@unisocket/core';
import type { DegradationEvent, LeakAnalysis, MemoryLevelChange } from '@unisocket/memory';
import {
  type HealthStatus,
  Monitor,
  type ServiceMetrics,
  type ServiceStats,
} from '@unisocket/monitoring';
import type { SocketIoServer, SocketIoTransport, SocketIoTransportOptions } from '@unisocket/transport-socketio';
import { NativeTransport } from '@unisocket/transport-ws';
import { type OriginCheck, clientIp, compileOriginCheck, resolveTrustProxy } from './admission';
import { type ResolvedAuth, resolveAuth } from './auth';
import { type ConnectEmitterOptions, type DisconnectEmitter, type EmitterLike, connectEmitter } from './event-source';
import { type HttpApi, type HttpEndpoint, type HttpHandler, createHttpApi } from './http';
import { MemorySupervisor, type ServiceMemoryAnalysis, extendMemoryAnalysis, validateMemoryOptions } from './memory';
import { UpgradeGuard } from './upgrade-guard';
import {
  type BrokerConfig,
  DEFAULT_ADMISSION_LIMITS,
  type HttpPaths,
  type ServiceLimits,
  type TransportName,
  type UnifiedWebSocketServiceOptions,
  resolveTransports,
  validateTransportOptions,
} from './options';

/** One subscriber of a channel on this node. */
export interface ChannelSubscriber {
  connectionId: string;
  userId: UserId | null;
  transport: string;
}

/** The answer of `GET /api/websocket/status`. */
export interface WebSocketDiagnostics {
  status: 'operational' | 'unavailable';
  nodeId: string;
  connectedClients: number;
  /** Subscribers per channel on this node. */
  subscriptions: Record<string, number>;
  /** Each client's channels (at most 1,000 clients). */
  clientDetails: Record<string, string[]>;
  /** `true` when there are more clients than `clientDetails` lists. */
  truncated: boolean;
  timestamp: string;
}

const MAX_DIAGNOSTIC_CLIENTS = 1_000;

/** Events of the service (the Hub's events are on `service.hub`). */
export interface ServiceEvents {
  /** The service is attached and accepting connections. */
  ready: [];
  /** A failure the service survived (broker, presence, transport). */
  error: [error: Error];
  /** The memory pressure level changed (normal, warning, critical, emergency). */
  memoryLevel: [change: MemoryLevelChange];
  /** A degradation step ran because of the memory level (apply, revert, or a repeat that did something). */
  degradation: [event: DegradationEvent];
  /** The leak detector found a sustained upward trend of the post-GC heap. */
  memoryLeak: [analysis: LeakAnalysis];
  /** A suspected leak is no longer suspected. */
  memoryLeakCleared: [analysis: LeakAnalysis];
}

type AnyHttpServer = HttpServer | HttpsServer;

/**
 * The unified real-time service: a Hub, its broker and its transports, attached to your HTTP server.
 * Create it with {@link createUnifiedWebSocketService}.
 */
export class UnifiedWebSocketService extends EventEmitter<ServiceEvents> {
  /** The transports this service runs. */
  readonly transports: readonly TransportName[];
  /** The resolved limits. */
  readonly limits: Readonly<ServiceLimits>;
  /** When the service was created (epoch ms). */
  readonly startTime = Date.now();
  /** The HTTP API as one handler for `node:http`, Express or Fastify: `(req, res, next?) => void`. */
  readonly httpHandler: HttpHandler;
  /** The HTTP API's paths (resolved `http.paths`). */
  readonly httpPaths: Readonly<HttpPaths>;
  /**
   * Statistics, health, memory analysis and Prometheus metrics (`@unisocket/monitoring`): `monitor.collector`,
   * `monitor.health`, `monitor.prometheus.registry`, `monitor.sample()`.
   */
  readonly monitor: Monitor;

  readonly #options: UnifiedWebSocketServiceOptions;
  readonly #nodeId: string | undefined;
  readonly #auth: ResolvedAuth;
  readonly #originAllowed: OriginCheck;
  readonly #proxyHops: number;
  #hub: Hub | undefined;
  #native: NativeTransport | undefined;
  #socketio: SocketIoTransport | undefined;
  #server: AnyHttpServer | undefined;
  #initializing: Promise<void> | undefined;
  #shuttingDown: Promise<void> | undefined;
  /** Connections and admitted-but-not-yet-open upgrades per client address. */
  readonly #perIp = new Map<string, number>();
  /** Upgrades admitted and not yet open or abandoned (count against maxConnections). */
  #inFlight = 0;
  /** Upgrades refused, by reason (monitoring). */
  readonly refusedUpgrades = { origin: 0, unauthorized: 0, overloaded: 0, perIp: 0, unknownPath: 0, unanswered: 0 };
  /** Guards every upgrade of the attached server: error listener, answer-or-close deadline. */
  readonly #upgradeGuard: UpgradeGuard;
  readonly #http: HttpApi;
  readonly #emitters = new Set<DisconnectEmitter>();
  readonly #statsChannel: { channel: string; intervalMs: number } | undefined;
  #statsTimer: NodeJS.Timeout | undefined;
  readonly #memory: MemorySupervisor | undefined;

  constructor(options: UnifiedWebSocketServiceOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('createUnifiedWebSocketService(options): options must be an object');
    }
    this.#options = options;
    this.transports = resolveTransports(options);
    validateTransportOptions(options, this.transports);
    this.#nodeId = options.nodeId;
    this.limits = resolveNumbers(
      'limits',
      { ...DEFAULT_HUB_LIMITS, ...DEFAULT_ADMISSION_LIMITS },
      options.limits,
      {
        maxPayloadBytes: 64,
        maxDepth: 1,
        maxBufferedBytes: 1024,
        messagesPerSecond: 1,
        maxSubscriptionsPerConnection: 1,
        maxRecoveryBuffer: 1,
        maxConnections: 1,
        maxConnectionsPerIp: 1,
      },
    );
    resolveBackpressure(options.backpressure, this.limits.maxBufferedBytes);
    validateBroker(options.broker, options.history, options.dedupe);
    validateMemoryOptions(options.memory);
    if (options.history !== undefined) resolveHistoryOptions(options.history);
    if (options.path !== undefined && (typeof options.path !== 'string' || !options.path.startsWith('/'))) {
      throw new TypeError(`path must start with "/", got ${JSON.stringify(options.path)}`);
    }
    const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 5_000;
    if (!Number.isInteger(shutdownTimeoutMs) || shutdownTimeoutMs < 0) {
      throw new TypeError(`shutdownTimeoutMs must be an integer >= 0, got ${String(options.shutdownTimeoutMs)}`);
    }
    const upgradeTimeoutMs = options.upgradeTimeoutMs ?? 10_000;
    if (!Number.isInteger(upgradeTimeoutMs) || upgradeTimeoutMs < 0) {
      throw new TypeError(
        `upgradeTimeoutMs must be an integer number of ms >= 0 (0 turns the deadline off), got ${String(options.upgradeTimeoutMs)}`,
      );
    }
    this.#upgradeGuard = new UpgradeGuard({
      timeoutMs: upgradeTimeoutMs,
      ownsPath: (pathname) =>
        (this.#native?.handles(pathname) ?? false) || (this.#socketio?.handles(pathname) ?? false),
      onRefused: (status) =>
        status === 408 ? this.#refused('unanswered', 'unanswered') : this.#refused('unknownPath', 'unknown_path'),
    });
    if (options.security !== undefined && (typeof options.security !== 'object' || options.security === null)) {
      throw new TypeError('security must be an object');
    }
    for (const key of Object.keys(options.security ?? {})) {
      if (!['allowedOrigins', 'allowMissingOrigin', 'allowSameOrigin', 'trustProxy'].includes(key)) {
        throw new TypeError(
          `unknown option security.${key}; known options: allowedOrigins, allowMissingOrigin, allowSameOrigin, trustProxy`,
        );
      }
    }
    this.#originAllowed = compileOriginCheck(options.security ?? {});
    this.#proxyHops = resolveTrustProxy(options.security?.trustProxy);
    this.#auth = resolveAuth(options);
    const monitoring = options.monitoring ?? {};
    if (typeof monitoring !== 'object' || monitoring === null) throw new TypeError('monitoring must be an object');
    this.#statsChannel = resolveStatsChannel(monitoring.statsChannel);
    if (
      monitoring.latencySamples !== undefined &&
      (!Number.isInteger(monitoring.latencySamples) || monitoring.latencySamples < 1)
    ) {
      throw new TypeError(`monitoring.latencySamples must be a positive integer, got ${String(monitoring.latencySamples)}`);
    }
    // the service's own memory management is monitoring's level source; a source of one's own replaces it
    if (options.memory?.enabled !== false) {
      if (monitoring.memory !== undefined || monitoring.memoryThresholds !== undefined) {
        throw new TypeError(
          'monitoring.memory and monitoring.memoryThresholds only apply with memory: { enabled: false }; set the thresholds in memory.thresholds, or turn memory management off to use a level source of your own',
        );
      }
      this.#memory = new MemorySupervisor(options.memory ?? {});
    }
    const memorySource = monitoring.memory ?? this.#memory?.manager;
    this.monitor = new Monitor({
      hub: () => this.#hub,
      startTime: this.startTime,
      shuttingDown: () => this.#shuttingDown !== undefined,
      maxConnections: this.limits.maxConnections,
      transports: this.transports,
      ...(memorySource === undefined ? {} : { memory: memorySource }),
      ...(monitoring.memoryThresholds === undefined ? {} : { memoryThresholds: monitoring.memoryThresholds }),
      ...(monitoring.eventLoop === undefined ? {} : { eventLoop: monitoring.eventLoop }),
      ...(monitoring.registry === undefined ? {} : { registry: monitoring.registry }),
      ...(monitoring.defaultMetrics === undefined ? {} : { defaultMetrics: monitoring.defaultMetrics }),
    });
    this.#http = createHttpApi(this, options.http ?? {});
    this.httpHandler = this.#http.handler;
    this.httpPaths = this.#http.paths;
  }

  // ------------------------------------------------------------------------------------------------
  // lifecycle
  // ------------------------------------------------------------------------------------------------

  /**
   * Starts the broker and attaches the transports to `server` (its `upgrade` event, on the configured paths).
   * The service does not own the server: it neither listens nor closes it. Calling it again with the same server
   * returns the same promise.
   */
  initialize(server: AnyHttpServer): Promise<void> {
    if (this.#initializing !== undefined) {
      if (server !== this.#server) {
        return Promise.reject(new TypeError('this service is already initialized with another server'));
      }
      return this.#initializing;
    }
    if (server === undefined || typeof (server as { on?: unknown }).on !== 'function') {
      return Promise.reject(new TypeError('initialize(server) needs the http.Server (or https.Server) to attach to'));
    }
    this.#server = server;
    this.#initializing = this.#start(server);
    return this.#initializing;
  }

  async #start(server: AnyHttpServer): Promise<void> {
    const o = this.#options;
    const broker = await this.#createBroker();
    const hub = new Hub({
      broker,
      ...(this.#nodeId === undefined ? {} : { nodeId: this.#nodeId }),
      ...(o.heartbeatMs === undefined ? {} : { heartbeatMs: o.heartbeatMs }),
      limits: {
        maxPayloadBytes: this.limits.maxPayloadBytes,
        maxDepth: this.limits.maxDepth,
        maxBufferedBytes: this.limits.maxBufferedBytes,
        messagesPerSecond: this.limits.messagesPerSecond,
        maxSubscriptionsPerConnection: this.limits.maxSubscriptionsPerConnection,
        maxRecoveryBuffer: this.limits.maxRecoveryBuffer,
      },
      ...(o.batch === undefined ? {} : { batch: o.batch }),
      ...(o.presence === undefined ? {} : { presence: o.presence }),
      session: { refreshLeadMs: this.#auth.refreshLeadMs, refreshGraceMs: this.#auth.refreshGraceMs },
      ...(o.backpressure === undefined ? {} : { backpressure: o.backpressure }),
      ...(o.monitoring?.latencySamples === undefined ? {} : { latency: { samples: o.monitoring.latencySamples } }),
      policy: this.#auth.policy,
    });
    hub.on('error', (error) => this.#emitError(error));
    hub.on('disconnect', (conn) => {
      if (!conn.admitted) return;
      conn.admitted = false;
      this.#releaseIp(conn.ip);
    });
    this.#hub = hub;
    await hub.start();
    this.#memory?.start(hub, {
      level: (change) => this.emit('memoryLevel', change),
      action: (event) => this.emit('degradation', event),
      leak: (analysis) => this.emit('memoryLeak', analysis),
      leakCleared: (analysis) => this.emit('memoryLeakCleared', analysis),
      error: (error) => this.#emitError(error),
    });
    // one admission function for every transport: the same limits (and authentication) wherever a client connects
    const admit = (request: IncomingMessage, context: AdmissionContext): MaybePromise<Admission> =>
      this.#admit(request, context);
    // the guard listens first: every upgrade socket has an error listener before anything else runs
    this.#upgradeGuard.attach(server);
    const upgradeListenersBefore = new Set(server.listeners('upgrade'));
    if (this.transports.includes('socketio')) {
      const { SocketIoTransport } = await importOptional<typeof import('@unisocket/transport-socketio')>(
        () => import('@unisocket/transport-socketio'),
        '@unisocket/transport-socketio',
        "transports: ['socketio']",
      );
      const socketio = new SocketIoTransport(hub, {
        ...(o.socketio?.path === undefined ? {} : { path: o.socketio.path }),
        ...(o.socketio?.serverOptions === undefined ? {} : { serverOptions: o.socketio.serverOptions }),
        ...(this.#socketioRedisAdapter() ?? {}),
        admit,
        onError: (error) => this.#emitError(error),
      });
      this.#socketio = socketio;
      try {
        await socketio.attach(server);
      } catch (error) {
        this.#upgradeGuard.detach();
        this.#memory?.stop();
        hub.close();
        await hub.broker.close();
        throw error;
      }
    }
    if (this.transports.includes('native')) {
      this.#native = new NativeTransport(hub, { path: o.path ?? '/ws', admit });
      this.#native.attach(server);
    }
    this.#upgradeGuard.own(server.listeners('upgrade').filter((l) => !upgradeListenersBefore.has(l)));
    this.monitor.start();
    this.#startStatsChannel();
    this.emit('ready');
  }

  /**
   * The Redis adapter of `service.io`: `socketio.redisAdapter` when given (`false`: none), else the Redis broker's
   * URL (with `<keyPrefix>socket.io` as the channel prefix), so the application's own Socket.IO calls cross nodes the
   * way unisocket's channels do.
   */
  #socketioRedisAdapter(): { redisAdapter: NonNullable<SocketIoTransportOptions['redisAdapter']> } | undefined {
    const given = this.#options.socketio?.redisAdapter;
    if (given === false) return undefined;
    if (given !== undefined) return { redisAdapter: given };
    const broker = this.#options.broker;
    if (broker === undefined || broker instanceof Broker || broker.type !== 'redis' || broker.redis !== undefined) return undefined;
    const keyPrefix = typeof broker.keyPrefix === 'string' ? broker.keyPrefix : 'unisocket:';
    return { redisAdapter: { url: broker.url ?? 'redis://127.0.0.1:6379', channelPrefix: `${keyPrefix}socket.io` } };
  }

  async #createBroker(): Promise<Broker> {
    const config = this.#options.broker;
    if (config instanceof Broker) return config;
    const type = config?.type ?? 'memory';
    if (type === 'memory') {
      const history = this.#options.history ?? (config?.type === 'memory' ? config.history : undefined);
      const dedupe = this.#options.dedupe;
      return new MemoryBroker({
        ...(this.#nodeId === undefined ? {} : { nodeId: this.#nodeId }),
        ...(history === undefined ? {} : { history }),
        ...(dedupe?.cacheSize === undefined ? {} : { dedupeWindow: dedupe.cacheSize, dedupeCacheSize: dedupe.cacheSize }),
        ...(dedupe?.windowMs === undefined ? {} : { dedupeWindowMs: dedupe.windowMs }),
      });
    }
    if (type === 'redis') {
      const { type: _type, history: brokerHistory, ...rest } = config as Extract<BrokerConfig, { type: 'redis' }>;
      const history = this.#options.history ?? brokerHistory;
      const { RedisBroker } = await importOptional<typeof import('@unisocket/broker-redis')>(
        () => import('@unisocket/broker-redis'),
        '@unisocket/broker-redis',
        "broker.type 'redis'",
      );
      const dedupe = this.#options.dedupe;
      return new RedisBroker({
        ...rest,
        ...(dedupe?.cacheSize === undefined ? {} : { dedupeWindow: dedupe.cacheSize }),
        ...(dedupe?.windowMs === undefined ? {} : { idempotencyWindowMs: dedupe.windowMs }),
        ...(this.#nodeId === undefined ? {} : { nodeId: this.#nodeId }),
        // maxChannels is a memory-history bound: Redis expires idle channels itself
        ...(history === undefined
          ? {}
          : { history: { ...(history.size === undefined ? {} : { size: history.size }), ...(history.ttlMs === undefined ? {} : { ttlMs: history.ttlMs }) } }),
      });
    }
    if (type === 'kafka') {
      const { type: _type, history: brokerHistory, ...rest } = config as Extract<BrokerConfig, { type: 'kafka' }>;
      const history = this.#options.history ?? brokerHistory;
      const { KafkaBroker } = await importOptional<typeof import('@unisocket/broker-kafka')>(
        () => import('@unisocket/broker-kafka'),
        '@unisocket/broker-kafka',
        "broker.type 'kafka'",
      );
      return new KafkaBroker({
        ...rest,
        ...(this.#nodeId === undefined ? {} : { nodeId: this.#nodeId }),
        // the node's window of recent messages (of every channel it consumes) is what recovery reads first
        ...(history === undefined ? {} : { history }),
      });
    }
    throw new TypeError(`broker.type '${type}' is not available; use 'memory', 'redis' or 'kafka'`);
  }

  /**
   * Admission before a connection exists, one function for every transport (the native upgrade, the Socket.IO
   * connect middleware): origin (403), memory pressure (503 while the memory level is critical or worse), node
   * capacity (503), per-address limit (429), then the token (401) — from the Socket.IO handshake's `auth.token`, else
   * the `Authorization` header, the query or the cookie. Capacity is reserved before the token is verified, so a burst
   * of connections cannot overshoot the limits while verifications are in flight; the transport settles the
   * reservation (`onSettled`) once the connection is open or abandoned.
   */
  #admit(request: IncomingMessage, context: AdmissionContext): MaybePromise<Admission> {
    const hub = this.#requireHub();
    const origin = request.headers.origin;
    if (!this.#originAllowed(origin, request.headers.host)) {
      this.#refused('origin', 'origin');
      throw new UnisocketError(
        ErrorCode.FORBIDDEN,
        origin === undefined
          ? 'upgrades without an Origin header are not allowed here (security.allowMissingOrigin)'
          : `origin ${JSON.stringify(origin).slice(0, 200)} is not allowed (security.allowedOrigins)`,
        { httpStatus: 403, closeCode: CloseCode.POLICY },
      );
    }
    const refusing = hub.refusing;
    if (refusing !== undefined) {
      this.#refused('overloaded', 'memory');
      throw new UnisocketError(ErrorCode.UNAVAILABLE, refusing, { httpStatus: 503, closeCode: CloseCode.OVERLOADED });
    }
    if (hub.connectionCount + this.#inFlight >= this.limits.maxConnections) {
      this.#refused('overloaded', 'overloaded');
      throw new UnisocketError(
        ErrorCode.UNAVAILABLE,
        `this node is at its connection limit (${this.limits.maxConnections}); retry later or connect elsewhere`,
        { httpStatus: 503, closeCode: CloseCode.OVERLOADED },
      );
    }
    const ip = clientIp(request, this.#proxyHops, context.ip);
    if ((this.#perIp.get(ip) ?? 0) >= this.limits.maxConnectionsPerIp) {
      this.#refused('perIp', 'per_ip');
      throw new UnisocketError(
        ErrorCode.LIMIT_EXCEEDED,
        `too many connections from this address (at most ${this.limits.maxConnectionsPerIp}); close some first`,
        { httpStatus: 429 },
      );
    }
    // reserve: the slot is held from here until the connection closes or the upgrade is abandoned
    this.#inFlight++;
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    let released = false;
    const abandon = (): void => {
      if (released) return;
      released = true;
      this.#inFlight--;
      this.#releaseIp(ip);
    };
    const admitted = (identity: Identity | undefined): Admission => {
      const admission: Admission = {
        ip,
        onSettled: (conn) => {
          if (conn === undefined) {
            abandon();
            return;
          }
          released = true;
          this.#inFlight--;
          conn.admitted = true;
        },
      };
      if (identity !== undefined) admission.identity = identity;
      return admission;
    };
    const refused = (error: unknown): never => {
      abandon();
      this.#refused('unauthorized', 'unauthorized');
      throw error;
    };
    let identity: MaybePromise<Identity | undefined>;
    try {
      identity = this.#auth.fromRequest(request, context.token);
    } catch (error) {
      return refused(error);
    }
    if (identity instanceof Promise) return identity.then(admitted, refused);
    return admitted(identity);
  }

  #releaseIp(ip: string): void {
    const n = (this.#perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n);
  }

  /**
   * Stops accepting connections, closes every connection with 1001 (clients reconnect, possibly elsewhere, and
   * recover), waits up to `shutdownTimeoutMs` for the close handshakes, then closes the broker. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#shuttingDown ??= this.#stop();
    return this.#shuttingDown;
  }

  async #stop(): Promise<void> {
    if (this.#initializing !== undefined) await this.#initializing.catch(() => undefined);
    const hub = this.#hub;
    const native = this.#native;
    const socketio = this.#socketio;
    native?.close();
    socketio?.close();
    this.#memory?.stop();
    if (this.#statsTimer !== undefined) clearInterval(this.#statsTimer);
    for (const disconnect of [...this.#emitters]) disconnect();
    this.monitor.stop();
    if (hub === undefined) return;
    hub.close(CloseCode.GOING_AWAY, 'server shutting down');
    const deadline = Date.now() + (this.#options.shutdownTimeoutMs ?? 5_000);
    while ((native?.size ?? 0) + (socketio?.size ?? 0) > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    native?.terminateAll();
    await socketio?.dispose();
    this.#upgradeGuard.detach();
    await hub.broker.close();
  }

  // ------------------------------------------------------------------------------------------------
  // publishing
  // ------------------------------------------------------------------------------------------------

  /**
   * Publishes `data` as `event` on `channel` to every subscriber on every node. Resolves with the message id and
   * offset once the broker has it.
   * @throws {UnisocketError} `BAD_REQUEST` for an invalid channel/event or data that is not JSON; `UNAVAILABLE`
   *   when the broker cannot take it
   */
  async broadcast(channel: ChannelName, event: string, data?: unknown, options?: PublishOptions): Promise<PublishAck> {
    return this.#requireHub().publish(channel, event, data, options);
  }

  /** Publishes on `user:<userId>`: every connection of that user receives it. Event defaults to `notification`. */
  sendUserNotification(userId: UserId, notification: unknown, event = 'notification'): Promise<PublishAck> {
    return this.broadcast(userChannel(userId), event, notification);
  }

  /** Publishes on `*`: every connection receives it, subscribed or not. Event defaults to `broadcast`. */
  broadcastToAll(message: unknown, event = 'broadcast'): Promise<PublishAck> {
    return this.broadcast(BROADCAST_CHANNEL, event, message);
  }

  /** Seed alias (messaging library): `sendToUser(userId, event, data)` publishes on `user:<userId>`. */
  sendToUser(userId: UserId, event: string, data?: unknown): Promise<PublishAck> {
    return this.broadcast(userChannel(userId), event, data);
  }

  /** Seed alias (messaging library): rooms are channels. */
  sendToRoom(room: ChannelName, event: string, data?: unknown): Promise<PublishAck> {
    return this.broadcast(room, event, data);
  }

  /** Seed alias (messaging library): topics are channels. */
  broadcastToTopic(topic: ChannelName, event: string, data?: unknown): Promise<PublishAck> {
    return this.broadcast(topic, event, data);
  }

  /**
   * Seed alias (unified service): a bill is the channel `bill:<billId>`; the event is `update.type` or `update`.
   */
  broadcastBillUpdate(billId: string | number, update: { type?: string; [key: string]: unknown }): Promise<PublishAck> {
    return this.broadcast(`bill:${billId}`, typeof update?.type === 'string' ? update.type : 'update', update);
  }

  // ------------------------------------------------------------------------------------------------
  // queries (this node)
  // ------------------------------------------------------------------------------------------------

  /** The Hub (its events and counters), once initialized. */
  get hub(): Hub {
    return this.#requireHub();
  }

  /**
   * The Socket.IO server of the Socket.IO transport, for the application's own Socket.IO code (`io.on('connection')`,
   * `io.to(room).emit`, `fetchSockets()`, …; across nodes with `socketio.redisAdapter`). unisocket's channels are not
   * Socket.IO rooms: publish on them with {@link broadcast}.
   * @throws {TypeError} when the transports do not include `'socketio'`
   * @throws {UnisocketError} `UNAVAILABLE` before `initialize()`
   */
  get io(): SocketIoServer {
    if (!this.transports.includes('socketio')) {
      throw new TypeError("service.io needs the Socket.IO transport: transports: ['native', 'socketio'] (or adapter: 'socketio')");
    }
    if (this.#socketio === undefined) {
      throw new UnisocketError(
        ErrorCode.UNAVAILABLE,
        'the service is not initialized: call `await service.initialize(httpServer)` first',
      );
    }
    return this.#socketio.io;
  }

  /** The broker, once initialized. */
  get broker(): Broker {
    return this.#requireHub().broker;
  }

  /** This node's id. */
  get nodeId(): string {
    return this.#hub?.nodeId ?? this.#nodeId ?? '';
  }

  /** The HTTP server the service is attached to. */
  get server(): AnyHttpServer | undefined {
    return this.#server;
  }

  /** `true` when the user has a connection on this node. */
  isUserConnected(userId: UserId): boolean {
    return (this.#hub?.userConnections(userId).length ?? 0) > 0;
  }

  /** The channels the user's connections on this node are subscribed to. */
  getUserSubscriptions(userId: UserId): ChannelName[] {
    const channels = new Set<ChannelName>();
    for (const conn of this.#hub?.userConnections(userId) ?? []) for (const ch of conn.channels) channels.add(ch);
    return [...channels];
  }

  /** The number of connections on this node, or of one user's connections. */
  getConnectionCount(userId?: UserId): number {
    if (this.#hub === undefined) return 0;
    return userId === undefined ? this.#hub.connectionCount : this.#hub.userConnections(userId).length;
  }

  /** The users with a connection on this node. */
  getAllConnectedUsers(): UserId[] {
    return this.#hub?.connectedUsers() ?? [];
  }

  /** The subscribers of a channel on this node. */
  getChannelSubscribers(channel: ChannelName): ChannelSubscriber[] {
    return (this.#hub?.channelSubscribers(channel) ?? []).map((conn: Connection) => ({
      connectionId: conn.id,
      userId: conn.userId,
      transport: conn.transport,
    }));
  }

  /** Seed alias (unified service): the user ids subscribed to `bill:<billId>` on this node. */
  getBillSubscribers(billId: string | number): UserId[] {
    const users = new Set<UserId>();
    for (const s of this.getChannelSubscribers(`bill:${billId}`)) if (s.userId !== null) users.add(s.userId);
    return [...users];
  }

  /** Service statistics (the unified-service seed's `ServiceStats`, extended: latency percentiles, drops, errors). */
  getStats(): ServiceStats {
    return this.monitor.getStats();
  }

  /**
   * Health (the seed's `HealthStatus`): `healthy`, `degraded` (broker unreachable, memory critical, a stalling event
   * loop, at the connection limit) or `unhealthy` (not started, shutting down, broker closed, memory emergency). Memory
   * warning and a suspected leak add a warning.
   */
  getHealthStatus(): HealthStatus {
    const health = this.monitor.getHealthStatus();
    const leaks = this.#memory?.leaks;
    if (leaks?.suspected === true) health.warnings.push(leaks.lastAnalysis.reason);
    return health;
  }

  /**
   * Diagnostics for `/api/websocket/status` (the event-streaming seed's shape): connected clients, subscribers per
   * channel and each client's channels (the first 1,000 clients; `truncated` says when there are more).
   */
  getDiagnostics(): WebSocketDiagnostics {
    const hub = this.#hub;
    const subscriptions: Record<string, number> = {};
    const clientDetails: Record<string, string[]> = {};
    let truncated = false;
    if (hub !== undefined) {
      for (const [channel, count] of hub.channelSubscriberCounts()) subscriptions[channel] = count;
      let n = 0;
      for (const conn of hub.connections()) {
        if (n++ >= MAX_DIAGNOSTIC_CLIENTS) {
          truncated = true;
          break;
        }
        clientDetails[conn.id] = conn.channels;
      }
    }
    return {
      status: hub === undefined || hub.closed ? 'unavailable' : 'operational',
      nodeId: this.nodeId,
      connectedClients: hub?.connectionCount ?? 0,
      subscriptions,
      clientDetails,
      truncated,
      timestamp: new Date().toISOString(),
    };
  }

  /** Detailed metrics (the seed's `ServiceMetrics`): stats, Hub and broker counters, per-transport counters, performance. */
  getMetrics(): ServiceMetrics {
    return this.monitor.getMetrics();
  }

  /**
   * Samples memory now (which may change the level and run its actions) and reports process memory, what the service
   * holds, the level and its actions in force, and the leak detector's verdict (the unified-service seed's
   * `MemoryAnalysis { process, service, analysis }`, extended).
   */
  forceMemoryAnalysis(): ServiceMemoryAnalysis {
    const status = this.#memory?.manager.sample();
    return extendMemoryAnalysis(this.monitor.analyzeMemory(), this.#hub, this.#memory, status);
  }

  /** Prometheus metrics text (what `GET /metrics` serves; content type `service.monitor.contentType`). */
  metrics(): Promise<string> {
    return this.monitor.metrics();
  }

  // ------------------------------------------------------------------------------------------------
  // event sources
  // ------------------------------------------------------------------------------------------------

  /**
   * Streams an `EventEmitter`'s events to a channel (the event-streaming seed's categories): each listed event
   * becomes a message of that event name with the first argument as `data`. Bounded: events that cannot be
   * published are dropped and counted (`drops.event_source`), never queued. Disconnected on shutdown.
   *
   * @example
   * ```ts
   * const stop = service.connectEmitter(scheduler, { channel: 'scheduler', events: ['schedule-executed', 'execution-completed'] });
   * stop(); // removes the listeners
   * ```
   * @returns a function that removes the listeners
   */
  connectEmitter(emitter: EmitterLike, options: ConnectEmitterOptions): DisconnectEmitter {
    const disconnect = connectEmitter(
      {
        publish: (channel, event, data) => this.#requireHub().publish(channel, event, data),
        recordDrop: (reason) => this.monitor.collector.recordDrop(reason),
      },
      emitter,
      options,
    );
    const remove = (): void => {
      this.#emitters.delete(remove);
      disconnect();
    };
    this.#emitters.add(remove);
    return remove;
  }

  /** @internal Handles a request already routed to an endpoint (framework adapters). */
  handleHttpEndpoint(endpoint: HttpEndpoint, req: IncomingMessage, res: ServerResponse): void {
    this.#http.handle(endpoint, req, res);
  }

  #startStatsChannel(): void {
    const config = this.#statsChannel;
    if (config === undefined) return;
    const hub = this.#requireHub();
    this.#statsTimer = setInterval(() => {
      if (hub.closed) return;
      try {
        const result = hub.publish(config.channel, 'stats', this.monitor.sample());
        // a refusal is already counted by the broker (drops.publish_refused)
        if (isPromiseLike(result)) result.then(undefined, () => undefined);
      } catch {
        // as above
      }
    }, config.intervalMs);
    this.#statsTimer.unref();
  }

  #requireHub(): Hub {
    if (this.#hub === undefined) {
      throw new UnisocketError(
        ErrorCode.UNAVAILABLE,
        'the service is not initialized: call `await service.initialize(httpServer)` first',
      );
    }
    return this.#hub;
  }

  #refused(key: keyof UnifiedWebSocketService['refusedUpgrades'], reason: string): void {
    this.refusedUpgrades[key]++;
    this.monitor.collector.recordRefusedUpgrade(reason);
  }

  #emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

/**
 * Imports an optional peer package, turning "not installed" into a `TypeError` that says what to install.
 */
async function importOptional<T>(load: () => Promise<T>, name: string, feature: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((error as Error).message).includes(name)) {
      throw new TypeError(`${feature} needs the ${name} package, which is not installed: pnpm add ${name}`, { cause: error });
    }
    throw error;
  }
}

function resolveStatsChannel(
  option: boolean | { channel?: string; intervalMs?: number } | undefined,
): { channel: string; intervalMs: number } | undefined {
  if (option === undefined || option === false) return undefined;
  const given = option === true ? {} : option;
  if (typeof given !== 'object' || given === null) {
    throw new TypeError('monitoring.statsChannel must be true, false or { channel?, intervalMs? }');
  }
  const channel = given.channel ?? 'sys.stats';
  if (!isValidChannelName(channel)) {
    throw new TypeError(`monitoring.statsChannel.channel must be a channel name ([A-Za-z0-9_.:=@-]), got ${JSON.stringify(channel)}`);
  }
  const intervalMs = given.intervalMs ?? 1_000;
  if (!Number.isInteger(intervalMs) || intervalMs < 100) {
    throw new TypeError(`monitoring.statsChannel.intervalMs must be an integer >= 100, got ${String(given.intervalMs)}`);
  }
  return { channel, intervalMs };
}

function validateBroker(broker: BrokerConfig | Broker | undefined, history: unknown, dedupe: unknown): void {
  if (dedupe !== undefined) {
    if (typeof dedupe !== 'object' || dedupe === null) throw new TypeError('dedupe must be { cacheSize?, windowMs? }');
    const d = dedupe as Record<string, unknown>;
    for (const key of Object.keys(d)) {
      if (key !== 'cacheSize' && key !== 'windowMs') {
        throw new TypeError(`unknown option dedupe.${key}; known options: cacheSize, windowMs`);
      }
      if (d[key] !== undefined && !(Number.isInteger(d[key]) && (d[key] as number) >= 1)) {
        throw new TypeError(`dedupe.${key} must be a positive integer, got ${String(d[key])}`);
      }
    }
    if (broker instanceof Broker) {
      throw new TypeError('dedupe applies to brokers the service creates; pass dedupeWindow to the Broker you construct instead');
    }
    const b = (broker ?? {}) as Record<string, unknown>;
    if (d.cacheSize !== undefined && b.dedupeWindow !== undefined) {
      throw new TypeError('set dedupe.cacheSize or broker.dedupeWindow, not both');
    }
    if (d.windowMs !== undefined && b.idempotencyWindowMs !== undefined) {
      throw new TypeError('set dedupe.windowMs or broker.idempotencyWindowMs, not both');
    }
  }
  if (broker === undefined || broker instanceof Broker) return;
  if (typeof broker !== 'object' || broker === null || typeof (broker as { type?: unknown }).type !== 'string') {
    throw new TypeError(
      "broker must be { type: 'memory' | 'redis' | 'kafka', ... } or a Broker instance (e.g. new RedisBroker(...))",
    );
  }
  if (!['memory', 'redis', 'kafka'].includes(broker.type)) {
    throw new TypeError(`unknown broker.type ${JSON.stringify(broker.type)}: use 'memory', 'redis' or 'kafka'`);
  }
  if (broker.history !== undefined && history !== undefined) {
    throw new TypeError('set history either at the top level or in broker.history, not both');
  }
}
