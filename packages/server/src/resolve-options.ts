import {
  type BackpressureOptions,
  type BatchOptions,
  DEFAULT_HUB_LIMITS,
  HUB_LIMIT_MINIMUMS,
  type HistoryOptions,
  type PresenceOptions,
  type RecoveryOptions,
  resolveBackpressure,
  resolveHistoryOptions,
  resolveNumbers,
  resolveReconnectSpread,
  resolveRecoveryOptions,
} from '@unisocket/core';
import type { MonitorOptions } from '@unisocket/monitoring';
import { type OriginCheck, compileOriginCheck, resolveTrustProxy } from './admission';
import { type ResolvedAuth, resolveAuth } from './auth';
import { DEFAULT_SECURITY_OPTIONS } from './auth-options';
import { type BrokerPlan, resolveBrokerPlan } from './broker-factory';
import { transportsFromAdapter } from './compat';
import { type StatsChannel, resolveStatsChannel } from './diagnostics';
import { type ResolvedHttpOptions, resolveHttpOptions } from './http';
import { type ResolvedAdminOptions, resolveAdminOptions } from './admin/options';
import { validateMemoryOptions } from './memory';
import {
  DEFAULT_ADMISSION_LIMITS,
  type MemoryOptions,
  type ServiceLimits,
  type TransportName,
  type UnifiedWebSocketServiceOptions,
} from './options';
import {
  type ResolvedOperationsOptions,
  type ResolvedQueueOptions,
  resolveOperationsOptions,
  resolveQueueOptions,
} from './operations/options';
import { TRANSPORT_NAMES, type TransportPlan, resolveTransportPlans } from './transports';
import { type ResolvedWebhookEndpoint, type WebhookSigningApp, resolveWebhooks } from './webhooks';

/** Every option of a service, validated once, with its defaults: what the service runs on. */
export interface ResolvedServiceOptions {
  transports: TransportName[];
  /** The selected transports' factories and settings, in attach order. */
  transportPlans: TransportPlan[];
  nodeId: string | undefined;
  limits: ServiceLimits;
  broker: BrokerPlan;
  /** The Hub's options besides the broker, limits and policy (given ones only: the Hub has the defaults). */
  hub: {
    heartbeatMs?: number;
    batch?: Partial<BatchOptions>;
    presence?: Partial<PresenceOptions>;
    backpressure?: BackpressureOptions;
    latencySamples?: number;
    history?: HistoryOptions;
    recovery?: RecoveryOptions;
  };
  /** Memory management's options, `undefined` when it is off. */
  memory: MemoryOptions | undefined;
  originAllowed: OriginCheck;
  proxyHops: number;
  auth: ResolvedAuth;
  /** Monitor options from `monitoring` (a level source of one's own only with memory management off). */
  monitor: Pick<MonitorOptions, 'memory' | 'memoryThresholds' | 'eventLoop' | 'registry' | 'defaultMetrics'>;
  statsChannel: StatsChannel | undefined;
  http: ResolvedHttpOptions;
  shutdownTimeoutMs: number;
  /** The spread of the reconnect advice of `shutdown()` (`0`: none). */
  reconnectSpreadMs: number | 'auto';
  upgradeTimeoutMs: number;
  /** The job queues (broadcasts, webhooks): Redis or memory. */
  queue: ResolvedQueueOptions;
  /** The operational channels and who may subscribe to them. */
  operations: ResolvedOperationsOptions;
  /** The webhook endpoints, with every default applied. */
  webhooks: ResolvedWebhookEndpoint[];
  /** How long after the last subscriber leaves everywhere `channel_vacated` waits, in ms. */
  vacateGraceMs: number | undefined;
  /** The admin inspector, `undefined` when it is off. */
  admin: ResolvedAdminOptions | undefined;
}

const KNOWN_OPTIONS: readonly (keyof UnifiedWebSocketServiceOptions)[] = [
  'transports',
  'adapter',
  'path',
  'socketio',
  'pusher',
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
  'reconnectSpreadMs',
  'recovery',
  'upgradeTimeoutMs',
  'webhooks',
  'queue',
  'operations',
  'lifecycle',
  'admin',
];

/**
 * Validates and resolves every option of `createUnifiedWebSocketService` once, without side effects (nothing is
 * created, connected or started), throwing a `TypeError` that says what to change.
 */
export function resolveServiceOptions(options: UnifiedWebSocketServiceOptions = {}): ResolvedServiceOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createUnifiedWebSocketService(options): options must be an object');
  }
  const transports = resolveTransportNames(options);
  const transportPlans = resolveTransportPlans(options, transports);
  const limits = resolveNumbers('limits', { ...DEFAULT_HUB_LIMITS, ...DEFAULT_ADMISSION_LIMITS }, options.limits, {
    ...HUB_LIMIT_MINIMUMS,
    maxConnections: 1,
    maxConnectionsPerIp: 1,
  });
  resolveBackpressure(options.backpressure, limits.maxBufferedBytes);
  const broker = resolveBrokerPlan(options);
  validateMemoryOptions(options.memory);
  if (options.history !== undefined) resolveHistoryOptions(options.history);
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 5_000;
  if (!Number.isInteger(shutdownTimeoutMs) || shutdownTimeoutMs < 0) {
    throw new TypeError(`shutdownTimeoutMs must be an integer >= 0, got ${String(options.shutdownTimeoutMs)}`);
  }
  const reconnectSpreadMs = resolveReconnectSpread('reconnectSpreadMs', options.reconnectSpreadMs);
  const recovery = options.recovery === undefined ? undefined : resolveRecoveryOptions(options.recovery);
  const upgradeTimeoutMs = options.upgradeTimeoutMs ?? 10_000;
  if (!Number.isInteger(upgradeTimeoutMs) || upgradeTimeoutMs < 0) {
    throw new TypeError(
      `upgradeTimeoutMs must be an integer number of ms >= 0 (0 turns the deadline off), got ${String(options.upgradeTimeoutMs)}`,
    );
  }
  const security = options.security ?? {};
  if (typeof security !== 'object' || security === null) throw new TypeError('security must be an object');
  const securityKeys = Object.keys(DEFAULT_SECURITY_OPTIONS);
  for (const key of Object.keys(security)) {
    if (!securityKeys.includes(key)) {
      throw new TypeError(`unknown option security.${key}; known options: ${securityKeys.join(', ')}`);
    }
  }
  const originAllowed = compileOriginCheck(security);
  const proxyHops = resolveTrustProxy(security.trustProxy);
  const auth = resolveAuth(options);
  const monitoring = options.monitoring ?? {};
  if (typeof monitoring !== 'object' || monitoring === null) throw new TypeError('monitoring must be an object');
  const statsChannel = resolveStatsChannel(monitoring.statsChannel);
  const { latencySamples } = monitoring;
  if (latencySamples !== undefined && (!Number.isInteger(latencySamples) || latencySamples < 1)) {
    throw new TypeError(`monitoring.latencySamples must be a positive integer, got ${String(latencySamples)}`);
  }
  // the service's own memory management is monitoring's level source; a source of one's own replaces it
  const memoryEnabled = options.memory?.enabled !== false;
  if (memoryEnabled && (monitoring.memory !== undefined || monitoring.memoryThresholds !== undefined)) {
    throw new TypeError(
      'monitoring.memory and monitoring.memoryThresholds only apply with memory: { enabled: false }; set the thresholds in memory.thresholds, or turn memory management off to use a level source of your own',
    );
  }
  const http = resolveHttpOptions(options.http);
  const pusherPlan = transportPlans.find((p) => p.factory.name === 'pusher');
  const pusherApps =
    (pusherPlan?.settings as { pusher?: { apps: readonly WebhookSigningApp[] } } | undefined)?.pusher?.apps ?? [];
  const webhooks = resolveWebhooks(options.webhooks, pusherApps);
  const lifecycle = options.lifecycle ?? {};
  if (typeof lifecycle !== 'object' || lifecycle === null) throw new TypeError('lifecycle must be { vacateGraceMs? }');
  for (const key of Object.keys(lifecycle)) {
    if (key !== 'vacateGraceMs') throw new TypeError(`unknown option lifecycle.${key}; known options: vacateGraceMs`);
  }
  const { vacateGraceMs } = lifecycle;
  if (vacateGraceMs !== undefined && (!Number.isInteger(vacateGraceMs) || vacateGraceMs < 0)) {
    throw new TypeError(`lifecycle.vacateGraceMs must be an integer number of ms >= 0, got ${String(vacateGraceMs)}`);
  }
  const o = options;
  return {
    transports,
    transportPlans,
    nodeId: options.nodeId,
    limits,
    broker,
    hub: {
      ...(o.heartbeatMs === undefined ? {} : { heartbeatMs: o.heartbeatMs }),
      ...(o.batch === undefined ? {} : { batch: o.batch }),
      ...(o.presence === undefined ? {} : { presence: o.presence }),
      ...(o.backpressure === undefined ? {} : { backpressure: o.backpressure }),
      ...(latencySamples === undefined ? {} : { latencySamples }),
      ...(recovery === undefined ? {} : { recovery }),
    },
    memory: memoryEnabled ? (options.memory ?? {}) : undefined,
    originAllowed,
    proxyHops,
    auth,
    monitor: {
      ...(monitoring.memory === undefined ? {} : { memory: monitoring.memory }),
      ...(monitoring.memoryThresholds === undefined ? {} : { memoryThresholds: monitoring.memoryThresholds }),
      ...(monitoring.eventLoop === undefined ? {} : { eventLoop: monitoring.eventLoop }),
      ...(monitoring.registry === undefined ? {} : { registry: monitoring.registry }),
      ...(monitoring.defaultMetrics === undefined ? {} : { defaultMetrics: monitoring.defaultMetrics }),
    },
    statsChannel,
    http,
    shutdownTimeoutMs,
    reconnectSpreadMs,
    upgradeTimeoutMs,
    queue: resolveQueueOptions(options.queue, broker),
    operations: resolveOperationsOptions(options.operations),
    webhooks,
    vacateGraceMs,
    admin: resolveAdminOptions(options.admin, Object.values(http.paths)),
  };
}

/** The transports to run: `transports`, or the one `adapter` names, or the native one. */
function resolveTransportNames(options: UnifiedWebSocketServiceOptions): TransportName[] {
  for (const key of Object.keys(options)) {
    if (!(KNOWN_OPTIONS as readonly string[]).includes(key)) {
      throw new TypeError(`unknown option "${key}"; known options: ${KNOWN_OPTIONS.join(', ')}`);
    }
  }
  const { transports } = options;
  const listed = TRANSPORT_NAMES.map((t) => `'${t}'`).join(' and/or ');
  if (transports !== undefined) {
    if (!Array.isArray(transports) || transports.length === 0) {
      throw new TypeError(`transports must be a non-empty array of ${listed}`);
    }
    for (const t of transports) {
      if (!TRANSPORT_NAMES.includes(t)) throw new TypeError(`unknown transport ${JSON.stringify(t)}: use ${listed}`);
    }
    if (new Set(transports).size !== transports.length) {
      throw new TypeError(`transports lists a transport twice: ${JSON.stringify(transports)}`);
    }
  }
  const fromAdapter = transportsFromAdapter(options.adapter, transports, TRANSPORT_NAMES);
  return [...(transports ?? fromAdapter ?? ['native'])];
}
