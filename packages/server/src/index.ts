/**
 * @unisocket/server — `createUnifiedWebSocketService`: a Hub, its broker and transports, and the HTTP API,
 * attached to the Node HTTP server you already run.
 * @packageDocumentation
 */
import type { UnifiedWebSocketServiceOptions } from './options';
import { UnifiedWebSocketService } from './service';

/**
 * Creates the real-time service. Attach it with `await service.initialize(httpServer)`.
 *
 * @example
 * ```ts
 * const server = http.createServer(app);
 * const service = createUnifiedWebSocketService({ http: { apiKey: process.env.API_KEY } });
 * await service.initialize(server);
 * server.listen(3000);
 * await service.broadcast('news', 'update', { title: 'Hello' });
 * ```
 * @throws {TypeError} for unknown or contradictory options, with a message that says what to change
 */
export function createUnifiedWebSocketService(options: UnifiedWebSocketServiceOptions = {}): UnifiedWebSocketService {
  return new UnifiedWebSocketService(options);
}

export {
  UnifiedWebSocketService,
  type ChannelSubscriber,
  type ServiceEvents,
  type WebSocketDiagnostics,
} from './service';
export { resolveServiceOptions, type ResolvedServiceOptions } from './resolve-options';
export {
  type ServerTransport,
  type ServerTransportFactory,
  type TransportContext,
  type AnyHttpServer,
  TRANSPORT_FACTORIES,
} from './transports';
export type { LegacyServiceMethods } from './compat';
export {
  type UnifiedWebSocketServiceOptions,
  type TransportName,
  type BrokerConfig,
  type ServiceLimits,
  type HttpOptions,
  type HttpPaths,
  type MemoryOptions,
  type LeakDetectionOptions,
  type DedupeOptions,
  type CorsOptions,
  type ServiceMonitoringOptions,
  DEFAULT_ADMISSION_LIMITS,
  DEFAULT_HTTP_PATHS,
} from './options';
export {
  type AuthOptions,
  type AuthRequest,
  type JwtOptions,
  type JwtKeyOptions,
  type SubscriptionTokenOptions,
  type HmacKey,
  type SecurityOptions,
  type PermissionOptions,
  DEFAULT_AUTH_OPTIONS,
  DEFAULT_SECURITY_OPTIONS,
} from './auth-options';
export {
  signConnectionToken,
  signChannelToken,
  signPusherAuth,
  type SigningKey,
  type ConnectionTokenOptions,
  type ChannelTokenOptions,
  type PusherAuthOptions,
  type PusherAuth,
} from './tokens';
export { demoAuthFromEnv, type DemoEnv } from './demo';
export type {
  SocketIoServerLike,
  SocketIoServerOptionsLike,
  SocketIoSocketLike,
  SocketIoRemoteSocketLike,
  SocketIoNamespaceLike,
  SocketIoBroadcastLike,
} from './socketio-types';
export { type HttpHandler, type HttpEndpoint, type HttpApiHost, HTTP_METHODS, MAX_BROADCAST_BATCH } from './http';
export { fastifyPlugin, type FastifyInstanceLike } from './fastify';
export {
  connectEmitter,
  type ConnectEmitterOptions,
  type DisconnectEmitter,
  type EmitterLike,
  type EventSink,
} from './event-source';
export {
  runCluster,
  type ClusterOptions,
  type ClusterEvent,
  type ClusterPrimary,
  type ClusterWorker,
  type ClusterWorkerContext,
  type ClusterWorkerHandle,
} from './cluster';
export { optionsFromEnv, type EnvConfig } from './env';
export { type AdminOptions, MIN_ADMIN_TOKEN_LENGTH } from './admin/options';
export { ADMIN_CSP } from './admin/route';
export { type AdminService, MAX_ADMIN_PAGE, MAX_HISTORY_PAGE, ADMIN_CLOSE_REASON } from './admin/api';
export type {
  ServiceStats,
  HealthStatus,
  ServiceMetrics,
  MemoryAnalysis,
  MemoryLevelSource,
  LatencySummary,
  EventLoopLag,
  TransportStats,
  Monitor,
  MonitorSample,
} from '@unisocket/monitoring';
export type { ServiceMemoryUsage, ServiceMemoryAnalysis } from './memory';
export type {
  MemoryLevel,
  MemoryLevelChange,
  MemoryStatus,
  MemoryThresholds,
  DegradationEvent,
  LeakAnalysis,
} from '@unisocket/memory';
export {
  type PublishAck,
  type PublishOptions,
  UnisocketError,
  ErrorCode,
  CloseCode,
  type Connection,
  type Identity,
  type SubscribeGrant,
  type SubscribeContext,
  type BackpressureOptions,
  type BackpressurePolicy,
  type BackpressureRule,
  type CoalesceKey,
  type DropReason,
  compilePattern,
} from '@unisocket/core';
export {
  BroadcastQueue,
  type QueuedBroadcastOptions,
  type BroadcastProducer,
  type BroadcastTick,
  type DeadLetter,
  type QueueName,
} from './operations/broadcast-queue';
export {
  type QueueServiceOptions,
  type OperationsOptions,
  type OperationCategory,
  OPERATION_CATEGORIES,
} from './operations/options';
export { operationChannels } from './operations/ops-channels';
export type { QueuedItem, QueuedItemOptions } from './http';
export * from './webhooks';
