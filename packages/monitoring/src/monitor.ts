import type { Hub } from '@unisocket/core';
import type { Registry } from 'prom-client';
import { EventLoopMonitor, type EventLoopMonitorOptions } from './event-loop';
import { type EventLoopThresholds, HealthChecker } from './health';
import { type MemoryLevelSource, type MemorySnapshot, analyzeMemory } from './memory';
import { PrometheusMetrics } from './prometheus';
import { type StatsSample, StatisticsCollector } from './statistics';
import type {
  EventLoopLag,
  HealthStatus,
  HubSource,
  MemoryAnalysis,
  MemoryThresholds,
  OperationsSource,
  QueueCountsSource,
  ServiceMetrics,
  ServiceStats,
} from './types';

/** Options of {@link createMonitor} (and the server's `monitoring` option, `hub` aside). */
export interface MonitorOptions {
  /** The Hub to watch, or a function returning it once it exists. */
  hub: HubSource;
  /** @default now */
  startTime?: number;
  /** `true` once the service is shutting down (health turns `unhealthy`). */
  shuttingDown?: () => boolean;
  /** The node's connection limit (health degrades at it). */
  maxConnections?: number;
  /** Transports whose series start at 0 before their first connection. @default ['native'] */
  transports?: readonly string[];
  /**
   * The memory level source, e.g. `MemoryManager` from `@unisocket/memory` (anything with a `level`, or a function
   * returning one). Without it: heap used vs the V8 heap limit against {@link memoryThresholds}.
   */
  memory?: MemoryLevelSource;
  /** Heap-fallback thresholds, percent of the V8 heap limit. @default { warning: 70, critical: 85, emergency: 95 } */
  memoryThresholds?: Partial<MemoryThresholds>;
  /**
   * Event-loop delay measurement and its health thresholds; `false` turns it off.
   * @default { resolutionMs: 20, windowMs: 5000, warningMs: 200, criticalMs: 1000 }
   */
  eventLoop?: false | (EventLoopMonitorOptions & Partial<EventLoopThresholds>);
  /** The prom-client registry. @default a new one per monitor */
  registry?: Registry;
  /** Also collect prom-client's default Node.js metrics, prefixed `unisocket_`. @default false */
  defaultMetrics?: boolean | { prefix?: string };
  /**
   * The service's operations — circuit breakers, webhook counters, the job counts it last read — answered
   * synchronously and cheaply (no I/O: every health check, `getStats()` and scrape calls it). Adds `breakers` to
   * health (a warning per open or isolated breaker; `degraded` while a `queue:` breaker is open), `breakers`,
   * `webhooks` and `queues` to stats, and the `unisocket_circuit_breaker_*`, `unisocket_webhook_*` and
   * `unisocket_queue_jobs` metrics.
   */
  operations?: OperationsSource;
  /**
   * Fresh jobs per state per queue (e.g. every queue's `counts()`), asked by `/metrics` only, at each scrape, for
   * `unisocket_queue_jobs`. A scrape waits at most {@link queueCountsTimeoutMs}: when it does not answer in time or
   * rejects (Redis away), that scrape leaves the queue series out. Without it the metric follows `operations().queues`.
   */
  queueCounts?: QueueCountsSource;
  /** How long a scrape waits for {@link queueCounts}, ms. @default 500 */
  queueCountsTimeoutMs?: number;
}

/** A stats sample with the memory level, event-loop lag and health (what the stats channel publishes). */
export interface MonitorSample extends Omit<StatsSample, 'memory'> {
  memory: MemorySnapshot;
  eventLoopLag: EventLoopLag;
  health: HealthStatus['status'];
}

/**
 * Statistics, health, memory analysis and Prometheus metrics for one Hub, wired together: what
 * `@unisocket/server` uses behind `getStats()`, `getHealthStatus()`, `getMetrics()`, `forceMemoryAnalysis()` and
 * `/metrics`. Call {@link start} when the Hub runs (starts the event-loop monitor) and {@link stop} on shutdown.
 */
export class Monitor {
  readonly collector: StatisticsCollector;
  readonly health: HealthChecker;
  readonly prometheus: PrometheusMetrics;
  /** `undefined` when `eventLoop: false`. */
  readonly eventLoop: EventLoopMonitor | undefined;
  readonly #hub: HubSource;
  readonly #memory: MemoryLevelSource | undefined;

  constructor(options: MonitorOptions) {
    if (options === undefined || typeof options !== 'object' || options.hub === undefined) {
      throw new TypeError('createMonitor needs { hub }: a Hub or a function returning it');
    }
    const startTime = options.startTime ?? Date.now();
    this.#hub = options.hub;
    this.#memory = options.memory;
    const el = options.eventLoop ?? {};
    if (el !== false && (typeof el !== 'object' || el === null)) {
      throw new TypeError('eventLoop must be false or { resolutionMs?, windowMs?, warningMs?, criticalMs? }');
    }
    this.eventLoop =
      el === false
        ? undefined
        : new EventLoopMonitor({
            ...(el.resolutionMs === undefined ? {} : { resolutionMs: el.resolutionMs }),
            ...(el.windowMs === undefined ? {} : { windowMs: el.windowMs }),
          });
    this.collector = new StatisticsCollector({
      hub: options.hub,
      startTime,
      ...(options.transports === undefined ? {} : { transports: options.transports }),
      ...(options.operations === undefined ? {} : { operations: options.operations }),
    });
    this.health = new HealthChecker({
      hub: options.hub,
      startTime,
      ...(options.shuttingDown === undefined ? {} : { shuttingDown: options.shuttingDown }),
      ...(options.memory === undefined ? {} : { memory: options.memory }),
      ...(options.memoryThresholds === undefined ? {} : { memoryThresholds: options.memoryThresholds }),
      ...(this.eventLoop === undefined ? {} : { eventLoop: this.eventLoop }),
      ...(el === false
        ? {}
        : {
            eventLoopThresholds: {
              ...(el.warningMs === undefined ? {} : { warningMs: el.warningMs }),
              ...(el.criticalMs === undefined ? {} : { criticalMs: el.criticalMs }),
            },
          }),
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      ...(options.operations === undefined ? {} : { operations: options.operations }),
    });
    this.prometheus = new PrometheusMetrics({
      collector: this.collector,
      health: this.health,
      ...(options.registry === undefined ? {} : { registry: options.registry }),
      ...(options.defaultMetrics === undefined ? {} : { defaultMetrics: options.defaultMetrics }),
      ...(options.operations === undefined ? {} : { operations: options.operations }),
      ...(options.queueCounts === undefined ? {} : { queueCounts: options.queueCounts }),
      ...(options.queueCountsTimeoutMs === undefined ? {} : { queueCountsTimeoutMs: options.queueCountsTimeoutMs }),
    });
  }

  /** Starts the event-loop monitor. Idempotent. */
  start(): this {
    this.eventLoop?.start();
    return this;
  }

  /** Stops the event-loop monitor. Idempotent. */
  stop(): void {
    this.eventLoop?.stop();
  }

  get #hubNow(): Hub | undefined {
    return typeof this.#hub === 'function' ? this.#hub() : this.#hub;
  }

  /** Service statistics (`ServiceStats`). */
  getStats(): ServiceStats {
    return this.collector.getStats();
  }

  /** Health (`HealthStatus`). */
  getHealthStatus(): HealthStatus {
    return this.health.check();
  }

  /** Detailed metrics (`ServiceMetrics`): stats, Hub and broker counters, per-transport counters, performance. */
  getMetrics(): ServiceMetrics {
    const hub = this.#hubNow;
    const stats = this.collector.getStats();
    return {
      stats,
      hub:
        hub === undefined
          ? null
          : {
              ...hub.stats,
              errors: { ...hub.stats.errors },
              closedByTransport: Object.fromEntries(
                Object.entries(hub.stats.closedByTransport).map(([k, v]) => [k, { ...v }]),
              ),
            },
      recovery: hub === undefined ? null : hub.recoveryStats(),
      broker: hub === undefined ? null : { ...hub.broker.stats },
      transports: this.collector.transports(),
      performance: {
        averageLatency: stats.averageLatency,
        latency: stats.latency,
        eventLoopLag: this.health.eventLoopLag(),
      },
    };
  }

  /** Process and service memory (`MemoryAnalysis`). */
  analyzeMemory(): MemoryAnalysis {
    return analyzeMemory(this.#hubNow, this.#memory, this.health.memoryThresholds);
  }

  /** A compact sample with rates since the previous call, memory, event-loop lag and health status. */
  sample(): MonitorSample {
    const health = this.health.check();
    return {
      ...this.collector.sample(),
      memory: this.health.memory(),
      eventLoopLag: health.eventLoopLag,
      health: health.status,
    };
  }

  /** Prometheus text. */
  metrics(): Promise<string> {
    return this.prometheus.metrics();
  }

  /** The Prometheus content type. */
  get contentType(): string {
    return this.prometheus.contentType;
  }
}

/** Creates a {@link Monitor}. */
export function createMonitor(options: MonitorOptions): Monitor {
  return new Monitor(options);
}
