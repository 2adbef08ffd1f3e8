import {
  type BrokerHealth,
  type BrokerState,
  DEFAULT_LATENCY_BUCKETS_MS,
  type HubStats,
  type LatencyRecorder,
  type RecoveryStats,
} from '@unisocket/core';
import { Counter, Gauge, type Metric, Registry, collectDefaultMetrics } from 'prom-client';
import type { HealthChecker } from './health';
import { type MemorySnapshot, memoryLevelValue } from './memory';
import { type OperationsReading, assertSourceFunction, readOperations } from './operations';
import { OPERATIONS_METRIC_NAMES, QueueCountsReader, registerOperationsMetrics } from './operations-metrics';
import type { StatisticsCollector } from './statistics';
import type { EventLoopLag, HealthStatus, OperationsSource, QueueCountsSource, TransportStats } from './types';

/** The prefix of every metric name. */
export const METRIC_PREFIX = 'unisocket_';

/** Options of {@link PrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Where the counters come from. */
  collector: StatisticsCollector;
  /** Health, memory level and event-loop lag (their metrics are left out without it). */
  health?: HealthChecker;
  /**
   * The registry to register in. Each service needs its own (the metric names are fixed); pass one to expose the
   * service's metrics next to yours, or merge registries with `Registry.merge([...])`.
   * @default a new `Registry` (never prom-client's global one)
   */
  registry?: Registry;
  /**
   * Also collect prom-client's default Node.js metrics (CPU, memory, GC, handles, event loop) into the same
   * registry, prefixed `unisocket_` (e.g. `unisocket_process_cpu_seconds_total`). Off by default: prom-client keeps
   * their event-loop and GC observers running for the life of the process, once per registry.
   * @default false
   */
  defaultMetrics?: boolean | { prefix?: string };
  /**
   * The service's operations, read synchronously once per scrape: `unisocket_circuit_breaker_*`,
   * `unisocket_webhook_*`, and `unisocket_queue_jobs` unless {@link queueCounts} is given. Without it those
   * families have no samples.
   */
  operations?: OperationsSource;
  /**
   * Fresh jobs per state per queue, asked at each scrape for `unisocket_queue_jobs` (instead of the `queues` of
   * {@link operations}). A scrape waits at most {@link queueCountsTimeoutMs} for it; when it does not answer in time
   * (or rejects), that scrape has no `unisocket_queue_jobs` samples. One call at a time: while a call is unanswered,
   * later scrapes wait on it rather than calling again.
   */
  queueCounts?: QueueCountsSource;
  /** How long a scrape waits for {@link queueCounts}, ms. @default 500 */
  queueCountsTimeoutMs?: number;
}

/** Every metric this package registers (without the default Node.js metrics), for docs and tests. */
export const METRIC_NAMES = [
  'unisocket_connections',
  'unisocket_connections_accepted_total',
  'unisocket_connections_peak',
  'unisocket_users',
  'unisocket_channels',
  'unisocket_subscriptions',
  'unisocket_messages_in_total',
  'unisocket_messages_out_total',
  'unisocket_bytes_out_total',
  'unisocket_published_total',
  'unisocket_batches_total',
  'unisocket_drops_total',
  'unisocket_errors_total',
  'unisocket_auth_failures_total',
  'unisocket_rate_limited_total',
  'unisocket_upgrades_refused_total',
  'unisocket_auth_refreshes_total',
  'unisocket_recoveries_total',
  'unisocket_recovery_reads_total',
  'unisocket_recovery_replays',
  'unisocket_recovery_queue_peak',
  'unisocket_recovery_refused_total',
  'unisocket_broker_state',
  'unisocket_broker_pending_publishes',
  'unisocket_broker_messages_total',
  'unisocket_publish_latency_seconds',
  'unisocket_http_requests_total',
  'unisocket_uptime_seconds',
  'unisocket_event_loop_lag_seconds',
  'unisocket_memory_level',
  'unisocket_memory_heap_used_bytes',
  'unisocket_memory_heap_limit_bytes',
  'unisocket_health',
  ...OPERATIONS_METRIC_NAMES,
] as const;

const BROKER_STATES: readonly BrokerState[] = ['connecting', 'ready', 'degraded', 'closed'];
const HEALTH_STATES: readonly HealthStatus['status'][] = ['healthy', 'degraded', 'unhealthy'];

/** What one scrape reads, computed once and shared by every metric's `collect()`. */
interface Snapshot {
  transports: Record<string, TransportStats>;
  hub: HubStats | undefined;
  /** The Hub's recovery reads and budget (see `Hub.recoveryStats`). */
  recovery: RecoveryStats | undefined;
  connections: number;
  users: number;
  channels: number;
  subscriptions: number;
  broker: BrokerHealth | undefined;
  brokerStats: { published: number; received: number; pendingPublishes: number } | undefined;
  drops: Record<string, number>;
  errors: Record<string, number>;
  refusedUpgrades: Record<string, number>;
  latency: LatencyRecorder | undefined;
  memory: MemorySnapshot | undefined;
  lag: EventLoopLag | undefined;
  health: HealthStatus | undefined;
  /** The operations source's reading (`undefined` without a source). */
  operations: OperationsReading | undefined;
}

/**
 * The service's Prometheus metrics on prom-client, all named `unisocket_…`, in a registry of their own.
 *
 * Every value is read at scrape time in `collect()` callbacks from the counters the Hub, broker and connections
 * keep (one snapshot per scrape, shared by all metrics); nothing is observed per message. Labels are
 * low-cardinality only — `transport`, `reason`, `code`, `state`, `broker`, `result`, `direction`, `endpoint`,
 * `status`, `stat`, `breaker` (a circuit breaker's name, bounded by configuration), `queue` (a job queue's name) —
 * never a channel, user or connection id. The one async read is `queueCounts`, bounded by a timeout.
 */
export class PrometheusMetrics {
  readonly registry: Registry;
  readonly #collector: StatisticsCollector;
  readonly #health: HealthChecker | undefined;
  readonly #operations: OperationsSource | undefined;
  readonly #queueCounts: QueueCountsReader | undefined;
  #snapshot: Snapshot | undefined;

  constructor(options: PrometheusMetricsOptions) {
    if (options === undefined || options.collector === undefined) {
      throw new TypeError('PrometheusMetrics needs { collector }: a StatisticsCollector');
    }
    if (options.registry !== undefined && !(options.registry instanceof Registry)) {
      throw new TypeError('registry must be a prom-client Registry (new Registry() from prom-client)');
    }
    assertSourceFunction('operations', options.operations, '{ breakers, webhooks?, queues? }');
    this.#collector = options.collector;
    this.#health = options.health;
    this.#operations = options.operations;
    this.#queueCounts =
      options.queueCounts === undefined
        ? undefined
        : new QueueCountsReader(options.queueCounts, options.queueCountsTimeoutMs);
    this.registry = options.registry ?? new Registry();
    this.#register();
    const defaults = options.defaultMetrics ?? false;
    if (defaults !== false) {
      collectDefaultMetrics({
        register: this.registry,
        prefix: (typeof defaults === 'object' ? defaults.prefix : undefined) ?? METRIC_PREFIX,
      });
    }
  }

  /** The exposition format's content type (`text/plain; version=0.0.4; charset=utf-8`). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The metrics in the Prometheus text format. The next call reads everything afresh, even in the same turn. */
  async metrics(): Promise<string> {
    try {
      return await this.registry.metrics();
    } finally {
      this.#snapshot = undefined;
    }
  }

  /** One snapshot per event-loop turn: every `collect()` of a scrape runs in the same turn and shares it. */
  #snap(): Snapshot {
    if (this.#snapshot !== undefined) return this.#snapshot;
    const c = this.#collector;
    const hub = c.hub;
    const health = this.#health?.check();
    const snapshot: Snapshot = {
      transports: c.transports(),
      hub: hub?.stats,
      recovery: hub?.recoveryStats(),
      connections: hub?.connectionCount ?? 0,
      users: hub?.userCount ?? 0,
      channels: hub?.channelCount ?? 0,
      subscriptions: hub?.subscriptionCount ?? 0,
      broker: hub?.broker.health(),
      brokerStats: hub?.broker.stats,
      drops: c.drops(),
      errors: c.errors(),
      refusedUpgrades: c.refusedUpgrades(),
      latency: hub?.latency,
      memory: this.#health?.memory(),
      lag: health?.eventLoopLag,
      health,
      operations: this.#operations === undefined ? undefined : readOperations(this.#operations),
    };
    this.#snapshot = snapshot;
    setImmediate(() => {
      this.#snapshot = undefined;
    });
    return snapshot;
  }

  #register(): void {
    const r = this.registry;
    const snap = (): Snapshot => this.#snap();
    const gauge = (
      name: string,
      help: string,
      labelNames: string[],
      read: (set: (labels: Record<string, string>, v: number) => void, s: Snapshot) => void,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset();
          read((labels, v) => this.set(labels, v), snap());
        },
      });
    };
    const value = (name: string, help: string, read: (s: Snapshot) => number): void => {
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(read(snap()));
        },
      });
    };
    // counters mirror monotonic totals kept elsewhere: each scrape sets them to the current total
    const counter = (
      name: string,
      help: string,
      labelNames: string[],
      read: (set: (labels: Record<string, string>, v: number) => void, s: Snapshot) => void,
    ): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset();
          read((labels, v) => this.inc(labels, v), snap());
        },
      });
    };
    const total = (name: string, help: string, read: (s: Snapshot) => number): void =>
      counter(name, help, [], (set, s) => set({}, read(s)));

    gauge('unisocket_connections', 'Open connections on this node, by transport.', ['transport'], (set, s) => {
      for (const [transport, t] of Object.entries(s.transports)) set({ transport }, t.connections);
    });
    total(
      'unisocket_connections_accepted_total',
      'Connections accepted since start.',
      (s) => s.hub?.connectionsTotal ?? 0,
    );
    value(
      'unisocket_connections_peak',
      'Most connections open at once since start.',
      (s) => s.hub?.connectionsPeak ?? 0,
    );
    value('unisocket_users', 'Authenticated users with a connection on this node.', (s) => s.users);
    value('unisocket_channels', 'Channels with subscribers on this node.', (s) => s.channels);
    value(
      'unisocket_subscriptions',
      'Subscriptions on this node (each connection counts each of its channels).',
      (s) => s.subscriptions,
    );
    counter('unisocket_messages_in_total', 'Commands received from clients, by transport.', ['transport'], (set, s) => {
      for (const [transport, t] of Object.entries(s.transports)) set({ transport }, t.commandsIn);
    });
    counter(
      'unisocket_messages_out_total',
      'Message lines delivered to clients (one per message per subscriber), by transport.',
      ['transport'],
      (set, s) => {
        for (const [transport, t] of Object.entries(s.transports)) set({ transport }, t.deliveries);
      },
    );
    counter(
      'unisocket_bytes_out_total',
      'Bytes of message batches written to clients, by transport.',
      ['transport'],
      (set, s) => {
        for (const [transport, t] of Object.entries(s.transports)) set({ transport }, t.bytesOut);
      },
    );
    total(
      'unisocket_published_total',
      'Messages published through this node (HTTP, server API, client publishes, event sources).',
      (s) => s.hub?.published ?? 0,
    );
    total('unisocket_batches_total', 'Message batches (frames) built by channel flushes.', (s) => s.hub?.batches ?? 0);
    counter(
      'unisocket_drops_total',
      "Messages not delivered, by reason: slow_consumer (connection closed for not reading; it recovers on reconnect), publish_refused (the broker refused a publish), gap_lost (a gap history could not fill), duplicate (a duplicate filtered by the broker), drop_oldest (dropped from a backed-up connection's queue), coalesced (replaced by a newer state while backed up), shed (a volatile channel not delivered under memory pressure), event_source (an emitter event that could not be published).",
      ['reason'],
      (set, s) => {
        for (const [reason, n] of Object.entries(s.drops)) set({ reason }, n);
      },
    );
    counter('unisocket_errors_total', 'Errors sent to clients, by error code.', ['code'], (set, s) => {
      for (const [code, n] of Object.entries(s.errors)) set({ code }, n);
    });
    total('unisocket_auth_failures_total', 'Failed authentications.', (s) => s.hub?.authFailures ?? 0);
    total(
      'unisocket_rate_limited_total',
      'Commands refused by the per-connection rate limiter.',
      (s) => s.hub?.rateLimited ?? 0,
    );
    counter(
      'unisocket_upgrades_refused_total',
      'WebSocket upgrades refused before the connection existed, by reason (origin, unauthorized, overloaded, per_ip).',
      ['reason'],
      (set, s) => {
        for (const [reason, n] of Object.entries(s.refusedUpgrades)) set({ reason }, n);
      },
    );
    counter(
      'unisocket_auth_refreshes_total',
      'Token refreshes asked of clients before expiry (requested), and connections closed with 4001 because they did not refresh in time (expired).',
      ['result'],
      (set, s) => {
        set({ result: 'requested' }, s.hub?.refreshesRequested ?? 0);
        set({ result: 'expired' }, s.hub?.authExpired ?? 0);
      },
    );
    counter(
      'unisocket_recoveries_total',
      'Subscribes with a position to resume from: recovered (every missed message replayed) or missed (history no longer covered it).',
      ['result'],
      (set, s) => {
        set({ result: 'recovered' }, s.hub?.recovered ?? 0);
        set({ result: 'missed' }, s.hub?.notRecovered ?? 0);
      },
    );
    counter(
      'unisocket_recovery_reads_total',
      'History reads of recovering subscriptions: issued to the store, or merged (answered by a read issued for another subscription of the same channel).',
      ['result'],
      (set, s) => {
        set({ result: 'issued' }, s.recovery?.reads ?? 0);
        set({ result: 'merged' }, s.recovery?.readsMerged ?? 0);
      },
    );
    gauge(
      'unisocket_recovery_replays',
      'Subscriptions replaying history now (active, at most recovery.maxConcurrent) and waiting for a slot (queued).',
      ['state'],
      (set, s) => {
        set({ state: 'active' }, s.recovery?.active ?? 0);
        set({ state: 'queued' }, s.recovery?.queued ?? 0);
      },
    );
    value(
      'unisocket_recovery_queue_peak',
      'The most subscriptions that waited for a replay slot at once since start.',
      (s) => s.recovery?.queuedPeak ?? 0,
    );
    total(
      'unisocket_recovery_refused_total',
      'Subscribes refused with UNAVAILABLE because the recovery queue was full (recovery.maxQueued).',
      (s) => s.recovery?.refused ?? 0,
    );
    gauge(
      'unisocket_broker_state',
      'The broker state: 1 for the current state, 0 for the others.',
      ['broker', 'state'],
      (set, s) => {
        if (s.broker === undefined) return;
        for (const state of BROKER_STATES) set({ broker: s.broker.kind, state }, s.broker.state === state ? 1 : 0);
      },
    );
    value(
      'unisocket_broker_pending_publishes',
      'Publishes waiting for the broker (backend unreachable).',
      (s) => s.brokerStats?.pendingPublishes ?? 0,
    );
    counter(
      'unisocket_broker_messages_total',
      'Messages handed to the broker backend (published) and received from it (before dedup).',
      ['direction'],
      (set, s) => {
        set({ direction: 'published' }, s.brokerStats?.published ?? 0);
        set({ direction: 'received' }, s.brokerStats?.received ?? 0);
      },
    );
    this.registry.registerMetric(
      new RecorderHistogram(
        'unisocket_publish_latency_seconds',
        'Publish→flush latency per flushed batch: from the publish time stamped into its oldest message to the batch being handed to the sockets.',
        () => snap().latency,
      ) as unknown as Metric,
    );
    counter(
      'unisocket_http_requests_total',
      'HTTP API requests, by endpoint and status.',
      ['endpoint', 'status'],
      (set) => {
        for (const { endpoint, status, count } of this.#collector.httpRequests()) set({ endpoint, status }, count);
      },
    );
    value(
      'unisocket_uptime_seconds',
      'Seconds since the service started.',
      () => (Date.now() - this.#collector.startTime) / 1000,
    );
    registerOperationsMetrics(r, () => snap().operations, this.#queueCounts);

    if (this.#health === undefined) return;
    gauge(
      'unisocket_event_loop_lag_seconds',
      'Event-loop delay beyond the timer resolution over the last window, by stat (mean, p50, p99, max).',
      ['stat'],
      (set, s) => {
        const lag = s.lag;
        if (lag === undefined) return;
        set({ stat: 'mean' }, lag.meanMs / 1000);
        set({ stat: 'p50' }, lag.p50Ms / 1000);
        set({ stat: 'p99' }, lag.p99Ms / 1000);
        set({ stat: 'max' }, lag.maxMs / 1000);
      },
    );
    value('unisocket_memory_level', 'Memory level: 0 normal, 1 warning, 2 critical, 3 emergency.', (s) =>
      s.memory === undefined ? 0 : memoryLevelValue(s.memory.level),
    );
    value('unisocket_memory_heap_used_bytes', 'V8 heap used, bytes.', (s) => s.memory?.heapUsed ?? 0);
    value('unisocket_memory_heap_limit_bytes', 'V8 heap limit, bytes.', (s) => s.memory?.heapLimit ?? 0);
    gauge(
      'unisocket_health',
      'Health status: 1 for the current status (healthy, degraded, unhealthy), 0 for the others.',
      ['status'],
      (set, s) => {
        if (s.health === undefined) return;
        for (const status of HEALTH_STATES) set({ status }, s.health.status === status ? 1 : 0);
      },
    );
  }
}

/**
 * A Prometheus histogram whose buckets, sum and count are read at scrape time from the Hub's
 * {@link LatencyRecorder} (exact cumulative counts kept per flushed batch), exposed in seconds. It implements the
 * metric interface prom-client's `Registry` formats (`get()`), since prom-client's own `Histogram` can only be fed
 * one observation at a time.
 */
class RecorderHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: string[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => LatencyRecorder | undefined,
  ) {}

  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { value: number; labels: Record<string, string | number>; metricName: string }[];
  }> {
    const recorder = this.read();
    const bounds = recorder?.bucketsMs ?? DEFAULT_LATENCY_BUCKETS_MS;
    const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
    let cumulative = 0;
    for (let i = 0; i < bounds.length; i++) {
      cumulative += recorder?.bucketCounts[i] ?? 0;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: bounds[i]! / 1000 }, value: cumulative });
    }
    const count = recorder?.count ?? 0;
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: (recorder?.sumMs ?? 0) / 1000 });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: count });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The totals live in the Hub; nothing to reset here. */
  reset(): void {}
}
