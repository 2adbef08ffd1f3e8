import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BROADCAST_CHANNEL,
  type Broker,
  type ChannelName,
  CloseCode,
  ErrorCode,
  Hub,
  type PublishAck,
  type PublishOptions,
  UnisocketError,
  reconnectAdvice,
  type UserId,
  userChannel,
} from '@unisocket/core';
import type { DegradationEvent, LeakAnalysis, MemoryLevelChange } from '@unisocket/memory';
import { type HealthStatus, Monitor, type ServiceMetrics, type ServiceStats } from '@unisocket/monitoring';
import {
  type PusherTransport,
  type ResolvedPusherOptions,
  createPusherRestHandler,
  hubRestHost,
} from '@unisocket/transport-pusher';
import type { SocketIoTransport } from '@unisocket/transport-socketio';
import type { SocketIoServerLike } from './socketio-types';
import { AdmissionControl, type RefusedUpgrades } from './admission';
import { createAdminRoute } from './admin/route';
import { createBroker } from './broker-factory';
import { type LegacyServiceMethods, installLegacyMethods } from './compat';
import {
  type ChannelSubscriber,
  type WebSocketDiagnostics,
  channelSubscribers,
  collectDiagnostics,
  startStatsChannel,
} from './diagnostics';
import { type ConnectEmitterOptions, type DisconnectEmitter, type EmitterLike, connectEmitter } from './event-source';
import { type HttpApi, type HttpEndpoint, type HttpHandler, createHttpApi } from './http';
import { MemorySupervisor, type ServiceMemoryAnalysis, extendMemoryAnalysis } from './memory';
import type { HttpPaths, ServiceLimits, TransportName, UnifiedWebSocketServiceOptions } from './options';
import type { BroadcastQueue } from './operations/broadcast-queue';
import { queueRequestHandler } from './operations/http-queue';
import { Operations } from './operations/operations';
import { operationsGuard } from './operations/ops-channels';
import { type ResolvedServiceOptions, resolveServiceOptions } from './resolve-options';
import type { AnyHttpServer, ServerTransport, TransportContext } from './transports';
import { UpgradeGuard } from './upgrade-guard';
import {
  type ChannelLifecycleEvent,
  type ClientLifecycleEvent,
  type ConnectionLifecycleEvent,
  LIFECYCLE_EVENTS,
  type LifecycleEvent,
  type MemberLifecycleEvent,
  type WebhookDispatcher,
} from './webhooks';
import type { BreakerRegistry } from '@unisocket/queue';

export type { ChannelSubscriber, WebSocketDiagnostics } from './diagnostics';

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
  /** A channel got its first subscriber on any node (emitted on one node). */
  channel_occupied: [event: ChannelLifecycleEvent];
  /** A channel's last subscriber left on every node, and none came back within the grace (emitted on one node). */
  channel_vacated: [event: ChannelLifecycleEvent];
  /** A user's first connection joined a presence channel anywhere in the cluster (emitted on one node). */
  member_added: [event: MemberLifecycleEvent];
  /** A user's last connection left a presence channel everywhere, after `presence.leaveGraceMs` (one node). */
  member_removed: [event: MemberLifecycleEvent];
  /** A client published (a Pusher client event, an Echo whisper, a native client publish), on its node. */
  client_event: [event: ClientLifecycleEvent];
  /** A Pusher client subscribed to a cache channel that has no last event yet. */
  cache_miss: [event: ChannelLifecycleEvent];
  /** A connection opened on this node. */
  connection_opened: [event: ConnectionLifecycleEvent];
  /** A connection closed on this node. */
  connection_closed: [event: ConnectionLifecycleEvent];
}

/**
 * The unified real-time service: a Hub, its broker and its transports, attached to your HTTP server.
 * Create it with {@link createUnifiedWebSocketService}.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface below only declares the compatibility methods compat.ts installs on the prototype
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
  /** Upgrades refused, by reason (monitoring). */
  readonly refusedUpgrades: RefusedUpgrades = {
    origin: 0,
    unauthorized: 0,
    overloaded: 0,
    perIp: 0,
    unknownPath: 0,
    unanswered: 0,
  };

  readonly #o: ResolvedServiceOptions;
  readonly #admission: AdmissionControl;
  /** Guards every upgrade of the attached server: error listener, answer-or-close deadline. */
  readonly #upgradeGuard: UpgradeGuard;
  readonly #http: HttpApi;
  readonly #memory: MemorySupervisor | undefined;
  readonly #emitters = new Set<DisconnectEmitter>();
  readonly #operations: Operations;
  #hub: Hub | undefined;
  #transports: ServerTransport[] = [];
  #server: AnyHttpServer | undefined;
  #initializing: Promise<void> | undefined;
  #shuttingDown: Promise<void> | undefined;
  #stopStatsChannel: (() => void) | undefined;

  constructor(options: UnifiedWebSocketServiceOptions = {}) {
    super();
    const o = resolveServiceOptions(options);
    this.#o = o;
    this.transports = o.transports;
    this.limits = o.limits;
    this.#admission = new AdmissionControl({
      maxConnections: o.limits.maxConnections,
      maxConnectionsPerIp: o.limits.maxConnectionsPerIp,
      originAllowed: o.originAllowed,
      proxyHops: o.proxyHops,
      authenticate: o.auth.fromRequest,
      refused: (key, reason) => this.#refused(key, reason),
    });
    this.#upgradeGuard = new UpgradeGuard({
      timeoutMs: o.upgradeTimeoutMs,
      ownsPath: (pathname) => this.#transports.some((t) => t.handles(pathname)),
      onRefused: (status) => {
        if (status === 408) this.#refused('unanswered', 'unanswered');
        else if (status === 503) this.#refused('overloaded', 'shutting_down');
        else this.#refused('unknownPath', 'unknown_path');
      },
    });
    if (o.memory !== undefined) this.#memory = new MemorySupervisor(o.memory);
    const memorySource = o.monitor.memory ?? this.#memory?.manager;
    let lastQueueCounts: Awaited<ReturnType<BroadcastQueue['counts']>> | undefined;
    this.monitor = new Monitor({
      // breakers, webhook counters and the queue counts last read (the scrape reads them afresh, bounded)
      operations: () => {
        const webhooks = this.#operations.webhooks?.stats();
        return {
          breakers: this.#operations.breakers.list(),
          ...(webhooks === undefined ? {} : { webhooks }),
          ...(lastQueueCounts === undefined ? {} : { queues: lastQueueCounts }),
        };
      },
      queueCounts: () =>
        this.#operations.queue.counts().then((counts) => {
          lastQueueCounts = counts;
          return counts;
        }),
      hub: () => this.#hub,
      startTime: this.startTime,
      shuttingDown: () => this.#shuttingDown !== undefined,
      maxConnections: this.limits.maxConnections,
      transports: this.transports,
      ...o.monitor,
      ...(memorySource === undefined ? {} : { memory: memorySource }),
    });
    const monitor = this.monitor;
    this.#http = createHttpApi(
      {
        broadcast: (channel, event, data, publish) => this.broadcast(channel, event, data, publish),
        health: () => this.getHealthStatus(),
        stats: () => this.getStats(),
        diagnostics: () => this.getDiagnostics(),
        metrics: () => this.monitor.metrics(),
        get metricsContentType() {
          return monitor.contentType;
        },
        recordRequest: (endpoint, status) => this.monitor.collector.recordHttpRequest(endpoint, status),
        enqueue: (channel, event, data, queued) =>
          this.queue.broadcast(channel, event, data, queued).then((job) => ({
            jobId: job.id,
            runAt: job.runAt ?? job.createdAt,
          })),
        queueRequest: (req, res, path) => queueRequestHandler(this.queue, this.breakers)(req, res, path),
        // the admin inspector under admin.path when configured, then the Pusher REST API under {restPath}/{app id}/…
        routes: (bodies) => {
          const admin = createAdminRoute(o.admin, this, bodies);
          const pusher = this.pusher;
          if (pusher === undefined) return admin;
          const host = hubRestHost(() => this.#hub, pusher.apps, {
            connectionOfSocket: (socketId) => this.pusherTransport?.connectionOf(socketId)?.id,
          });
          const rest = createPusherRestHandler(host, {
            restPath: pusher.restPath,
            readBody: bodies.readBody,
            discardBody: bodies.discardBody,
          });
          return admin === undefined ? rest : (req, res) => admin(req, res) || rest(req, res);
        },
      },
      o.http,
      this,
    );
    this.httpHandler = this.#http.handler;
    this.httpPaths = this.#http.paths;
    this.#operations = new Operations(o.queue, o.operations, o.webhooks, {
      publish: (channel, event, data, publish) => this.broadcast(channel, event, data, publish),
      recordDrop: (reason) => this.monitor.collector.recordDrop(reason),
      listens: (name) => this.listenerCount(name) > 0,
      emitLifecycle: (event) => (this.emit as (name: string, event: LifecycleEvent) => boolean)(event.name, event),
      error: (error) => this.#emitError(error),
    });
    // a lifecycle listener added or removed changes which Hub events are bound (nothing is bound for none)
    const lifecycleNames: ReadonlySet<string | symbol> = new Set(LIFECYCLE_EVENTS);
    const changed = (name: string | symbol): void => {
      if (lifecycleNames.has(name)) queueMicrotask(() => this.#operations.refresh(this.#hub));
    };
    const emitter = this as unknown as EventEmitter;
    emitter.on('newListener', changed);
    emitter.on('removeListener', changed);
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
    const o = this.#o;
    const broker = await createBroker(o.broker, o.nodeId);
    const { latencySamples, ...hubOptions } = o.hub;
    const { maxConnections: _c, maxConnectionsPerIp: _p, ...hubLimits } = o.limits;
    const hub = new Hub({
      broker,
      ...(o.nodeId === undefined ? {} : { nodeId: o.nodeId }),
      ...hubOptions,
      limits: hubLimits,
      session: { refreshLeadMs: o.auth.refreshLeadMs, refreshGraceMs: o.auth.refreshGraceMs },
      ...(latencySamples === undefined ? {} : { latency: { samples: latencySamples } }),
      // channel_occupied / channel_vacated need the cluster-wide occupancy; it is turned on later if a listener comes
      occupancy: {
        enabled: this.#operations.wantsOccupancy,
        ...(o.vacateGraceMs === undefined ? {} : { graceMs: o.vacateGraceMs }),
      },
      policy: { ...o.auth.policy, authorizeReserved: operationsGuard(o.operations) },
    });
    hub.on('error', (error) => this.#emitError(error));
    hub.on('disconnect', (conn) => this.#admission.release(conn));
    this.#hub = hub;
    await hub.start();
    try {
      await this.#operations.start(hub, hub.nodeId);
    } catch (error) {
      await this.#operations.stop();
      hub.close();
      await hub.broker.close();
      throw error;
    }
    this.#memory?.start(hub, {
      level: (change) => this.emit('memoryLevel', change),
      action: (event) => this.emit('degradation', event),
      leak: (analysis) => this.emit('memoryLeak', analysis),
      leakCleared: (analysis) => this.emit('memoryLeakCleared', analysis),
      error: (error) => this.#emitError(error),
    });
    const context: TransportContext = {
      hub,
      admit: (request, admission) => this.#admission.admit(hub, request, admission),
      onError: (error) => this.#emitError(error),
    };
    // the guard listens first: every upgrade socket has an error listener before anything else runs
    this.#upgradeGuard.attach(server);
    const upgradeListenersBefore = new Set(server.listeners('upgrade'));
    try {
      for (const { factory, settings } of o.transportPlans) {
        const transport = await factory.create(settings, context);
        this.#transports.push(transport);
        await transport.attach(server);
      }
    } catch (error) {
      this.#upgradeGuard.detach();
      this.#memory?.stop();
      await this.#operations.stop();
      hub.close();
      await hub.broker.close();
      throw error;
    }
    // the transports' own upgrade listeners: an upgrade they answer is theirs
    this.#upgradeGuard.own(server.listeners('upgrade').filter((l) => !upgradeListenersBefore.has(l)));
    this.monitor.start();
    if (o.statsChannel !== undefined)
      this.#stopStatsChannel = startStatsChannel(hub, o.statsChannel, () => this.monitor.sample());
    this.emit('ready');
  }

  /**
   * Stops accepting connections, closes every connection with 1001 (clients reconnect, possibly elsewhere, and
   * recover; each close reason advises its client when: `retry-after-ms=<n>` within `reconnectSpreadMs`), waits up to `shutdownTimeoutMs` for the close handshakes, then closes the broker. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#shuttingDown ??= this.#stop();
    return this.#shuttingDown;
  }

  async #stop(): Promise<void> {
    if (this.#initializing !== undefined) await this.#initializing.catch(() => undefined);
    const hub = this.#hub;
    const transports = this.#transports;
    // from here an upgrade on the service's paths is answered 503 at once: clients retry, elsewhere or later
    this.#upgradeGuard.stopAccepting();
    for (const transport of transports) transport.close();
    this.#memory?.stop();
    this.#stopStatsChannel?.();
    for (const disconnect of [...this.#emitters]) disconnect();
    this.monitor.stop();
    if (hub === undefined) return;
    // each client is told when to come back (a random delay within the spread): the crowd returns spread out
    hub.close(
      CloseCode.GOING_AWAY,
      reconnectAdvice('server shutting down', this.#o.reconnectSpreadMs, hub.connectionCount),
    );
    const deadline = Date.now() + this.#o.shutdownTimeoutMs;
    const open = (): number => transports.reduce((n, t) => n + t.size, 0);
    while (open() > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const transport of transports) {
      transport.terminateAll();
      await transport.dispose?.();
    }
    this.#upgradeGuard.detach();
    // the webhook batches of the last leaves go into their queue; active jobs finish
    await this.#operations.stop();
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

  /**
   * Queued, delayed, prioritized and recurring broadcasts, and the dead-letter queue (of broadcasts and webhooks):
   * on BullMQ when the service has a Redis (`queue.redis`, or a Redis broker), in memory otherwise. Jobs run once
   * the service is initialized.
   * @example
   * ```ts
   * await service.queue.broadcast('news', 'digest', data, { delayMs: 60_000, attempts: 5, priority: 1 });
   * await service.queue.recurring('clock', { pattern: '* * * * *' }, 'clock', 'minute', () => ({ now: Date.now() }));
   * ```
   */
  get queue(): BroadcastQueue {
    return this.#operations.queue;
  }

  /** The circuit breakers (webhook endpoints, the queue's Redis): `breakers.list()`, `'circuit-breaker-state-changed'`. */
  get breakers(): BreakerRegistry {
    return this.#operations.breakers;
  }

  /** The webhook dispatcher (its `stats()` and `webhook-delivered` / `webhook-failed` events), when webhooks are configured. */
  get webhooks(): WebhookDispatcher | undefined {
    return this.#operations.webhooks;
  }

  /** Publishes on `user:<userId>`: every connection of that user receives it. Event defaults to `notification`. */
  sendUserNotification(userId: UserId, notification: unknown, event = 'notification'): Promise<PublishAck> {
    return this.broadcast(userChannel(userId), event, notification);
  }

  /**
   * Closes every connection of a user on every node: this node's at once, the others' through the broker
   * (`Hub.disconnectUser`). The default close code 1008 tells the native client not to reconnect.
   * @returns the number of this node's connections closed
   * @throws {TypeError} for a close code other than 1000, 1001, 1008, 1011 or 3000–4999, or a reason over 123 bytes
   * @throws {UnisocketError} `UNAVAILABLE` before `initialize()`
   */
  disconnectUser(userId: UserId, code: number = CloseCode.POLICY, reason = 'disconnected by the server'): number {
    return this.#requireHub().disconnectUser(userId, code, reason);
  }

  /** Publishes on `*`: every connection receives it, subscribed or not. Event defaults to `broadcast`. */
  broadcastToAll(message: unknown, event = 'broadcast'): Promise<PublishAck> {
    return this.broadcast(BROADCAST_CHANNEL, event, message);
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
  get io(): SocketIoServerLike {
    if (!this.transports.includes('socketio')) {
      throw new TypeError(
        "service.io needs the Socket.IO transport: transports: ['native', 'socketio'] (or adapter: 'socketio')",
      );
    }
    const socketio = this.#transports.find((t): t is SocketIoTransport => t.name === 'socketio');
    if (socketio === undefined) {
      throw new UnisocketError(
        ErrorCode.UNAVAILABLE,
        'the service is not initialized: call `await service.initialize(httpServer)` first',
      );
    }
    return socketio.io;
  }

  /**
   * The Pusher transport's resolved options (its apps with every default applied, `path`, `restPath`,
   * `activityTimeoutSec`), or `undefined` when the transports do not include `'pusher'`. Available before
   * `initialize()`.
   */
  get pusher(): ResolvedPusherOptions | undefined {
    const plan = this.#o.transportPlans.find((p) => p.factory.name === 'pusher');
    return (plan?.settings as { pusher: ResolvedPusherOptions } | undefined)?.pusher;
  }

  /** The Pusher transport, once initialized with `'pusher'` among the transports (its `connectionOf(socketId)`). */
  get pusherTransport(): PusherTransport | undefined {
    return this.#transports.find((t): t is PusherTransport => t.name === 'pusher');
  }

  /** The broker, once initialized. */
  get broker(): Broker {
    return this.#requireHub().broker;
  }

  /** This node's id. */
  get nodeId(): string {
    return this.#hub?.nodeId ?? this.#o.nodeId ?? '';
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
    return channelSubscribers(this.#hub, channel);
  }

  /** Service statistics: connections, messages, broadcasts, drops, duplicates, peaks, latency percentiles, errors. */
  getStats(): ServiceStats {
    return this.monitor.getStats();
  }

  /**
   * Health: `healthy`, `degraded` (broker unreachable, memory critical, a stalling event
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
   * Diagnostics for `/api/websocket/status`: connected clients, subscribers per channel and each client's channels
   * (the first 1,000 clients; `truncated` says when there are more).
   */
  getDiagnostics(): WebSocketDiagnostics {
    return collectDiagnostics(this.#hub, this.nodeId);
  }

  /** Detailed metrics: stats, Hub and broker counters, per-transport counters, performance. */
  getMetrics(): ServiceMetrics {
    return this.monitor.getMetrics();
  }

  /**
   * Samples memory now (which may change the level and run its actions) and reports process memory, what the service
   * holds, the level and its actions in force, and the leak detector's verdict (`{ process, service, analysis }`).
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
   * Streams an `EventEmitter`'s events to a channel: each listed event
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

// the names kept for applications coming from earlier systems (see compat.ts)
export interface UnifiedWebSocketService extends LegacyServiceMethods {}
installLegacyMethods(UnifiedWebSocketService);
