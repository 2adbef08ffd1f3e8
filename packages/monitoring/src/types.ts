import type { BrokerHealth, BrokerStats, Hub, HubStats, RecoveryStats } from '@unisocket/core';
import type { MemoryLevel, MemoryThresholds } from '@unisocket/memory';

/** Memory pressure levels and their thresholds are `@unisocket/memory`'s; re-exported for compatibility. */
export type { MemoryLevel, MemoryThresholds };

/** A Hub, or a function returning it once it exists (a service creates its Hub in `initialize`). */
export type HubSource = Hub | (() => Hub | undefined);

/** @internal */
export function resolveHub(source: HubSource): Hub | undefined {
  return typeof source === 'function' ? source() : source;
}

/** Publish→flush latency over the recent window (see `LatencyRecorder` in `@unisocket/core`). */
export interface LatencySummary {
  /** Samples in the window (one per flushed batch). */
  samples: number;
  /** Mean of the window, ms. */
  averageMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Largest sample in the window, ms. */
  maxMs: number;
  /** Samples since start (the histogram's count). */
  totalSamples: number;
}

/** Event-loop delay beyond the timer resolution over the last window (`perf_hooks.monitorEventLoopDelay`). */
export interface EventLoopLag {
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Timer samples the figures come from (`0` before the first measurement). */
  samples: number;
}

/** The states of a circuit breaker, in the order the metrics list them. */
export const BREAKER_STATES = ['closed', 'open', 'half-open', 'isolated'] as const;

/**
 * A circuit breaker as the service reports it (the same shape as `BreakerSnapshot` of `@unisocket/queue`, declared
 * here so monitoring does not depend on the queue). Names are bounded by configuration: `queue:<name>` for a job
 * queue's Redis, `webhook:<url>` for a webhook endpoint, and so on.
 */
export interface BreakerStatus {
  /** The breaker's name; one starting with `queue:` guards a job queue (health degrades while it is open). */
  name: string;
  /**
   * `closed` (calls go through), `open` (calls are refused until a trial), `half-open` (one trial call is let
   * through), `isolated` (held open by hand until released).
   */
  state: (typeof BREAKER_STATES)[number];
  /** Since when it has been in `state` (epoch ms). */
  since: number;
  /** Calls that failed since the breaker was created. */
  failures: number;
  /** Calls that succeeded since the breaker was created. */
  successes: number;
  /** Calls refused without being tried (breaker open or isolated) since the breaker was created. */
  rejected: number;
}

/** Webhook delivery counters since start, and what waits to be sent. */
export interface WebhookStats {
  /** Webhook deliveries a receiver accepted. */
  delivered: number;
  /** Deliveries that failed for good (retries exhausted: in the dead-letter queue). */
  failed: number;
  /** Events never sent (e.g. refused by a full buffer or an open endpoint breaker). */
  dropped: number;
  /** Events waiting to be sent now (batched, delayed or being retried). */
  pendingEvents: number;
}

/** The job states counted per queue, in the order the metrics list them; `failed` is the dead-letter queue. */
export const QUEUE_JOB_STATES = ['waiting', 'delayed', 'active', 'completed', 'failed'] as const;

/** Jobs per state in one queue (what `JobQueue.counts()` of `@unisocket/queue` answers). */
export type QueueJobCounts = Record<(typeof QUEUE_JOB_STATES)[number], number>;

/**
 * The service's operations — circuit breakers, webhooks, job queues — as {@link OperationsSource} reports them.
 * Health, stats and metrics read it; monitoring never reaches into the queue package itself.
 */
export interface OperationsSnapshot {
  /** Every circuit breaker (an empty array when there is none). */
  breakers: readonly BreakerStatus[];
  /** Webhook counters; absent when webhooks are not configured. */
  webhooks?: WebhookStats;
  /**
   * Jobs per state per queue name, as last read by the service (the source is synchronous: it answers the counts it
   * keeps, it does not ask Redis); absent when there is no queue.
   */
  queues?: Readonly<Record<string, QueueJobCounts>>;
}

/**
 * Reads the service's operations. Called synchronously by every health check, `getStats()` and scrape: it must be
 * cheap and do no I/O (answer counters and the last queue counts the service read).
 */
export type OperationsSource = () => OperationsSnapshot;

/**
 * Reads jobs per state per queue from the queues themselves (BullMQ asks Redis), at scrape time by `/metrics` only,
 * bounded by a timeout so an unreachable Redis never hangs a scrape.
 */
export type QueueCountsSource = () => Promise<Readonly<Record<string, QueueJobCounts>>>;

/** Per-transport counters (live connections plus those that have closed). */
export interface TransportStats {
  /** Connections open now. */
  connections: number;
  /** Message lines delivered. */
  deliveries: number;
  /** Bytes of message batches written. */
  bytesOut: number;
  /** Commands received. */
  commandsIn: number;
}

/**
 * Service statistics: connections, messages, broadcasts, drops, duplicates, peaks, latency, memory and uptime.
 * Counters are since the service started.
 */
export interface ServiceStats {
  /** Connections accepted since start. */
  totalConnections: number;
  /** Connections open now. */
  activeConnections: number;
  /** Commands received from clients plus messages published through this node. */
  totalMessages: number;
  /** Messages published through this node (HTTP, server API, client publishes, event sources). */
  totalBroadcasts: number;
  /** Message lines delivered to clients (one per message per subscriber). */
  deliveries: number;
  /** Bytes of message batches written to clients. */
  bytesOut: number;
  /**
   * Messages not delivered: `drops` summed, duplicates aside. A slow consumer counts once (its connection is
   * closed and it recovers the messages from history when it reconnects).
   */
  droppedMessages: number;
  /** Duplicate deliveries filtered by the broker (same id or an old offset). */
  duplicateMessages: number;
  /** Times a bound was hit: slow consumers (outbound buffer or recovery buffer) and publishes refused by a full queue. */
  queueOverflows: number;
  /** Subscribes with `since` (clients coming back after a disconnect). */
  reconnections: number;
  /** Of those, how many got every missed message back. */
  recovered: number;
  /** When the service started (epoch ms). */
  startTime: number;
  /** The last publish, command, connection or disconnection seen (epoch ms). */
  lastActivity: number;
  /** Most connections open at once. */
  peakConnections: number;
  /** Milliseconds since start. */
  uptime: number;
  /** Heap used by the process, bytes. */
  memoryUsage: number;
  /** Authenticated users with a connection on this node. */
  uniqueUsers: number;
  /** Channels with subscribers on this node. */
  channels: number;
  /** Subscriptions on this node. */
  subscriptions: number;
  /** Mean publish→flush latency over the recent window, ms (see {@link LatencySummary}). */
  averageLatency: number;
  /** Publish→flush latency percentiles over the recent window. */
  latency: LatencySummary;
  /** Drops by reason: `slow_consumer`, `publish_refused`, `gap_lost`, `event_source`, … */
  drops: Record<string, number>;
  /** Errors sent to clients, by code. */
  errors: Record<string, number>;
  /** Every circuit breaker; present when the service reports its operations (`operations` option). */
  breakers?: BreakerStatus[];
  /** Webhook counters; present when the service reports operations and has webhooks. */
  webhooks?: WebhookStats;
  /**
   * Jobs per state per queue, as last read by the service; present when the service reports operations and has a
   * queue.
   */
  queues?: Record<string, QueueJobCounts>;
}

/** Health: the status, its checks and warnings, with the broker, memory level and event loop. */
export interface HealthStatus {
  /** `healthy`; `degraded` (works, but impaired: broker unreachable, critical memory, a stalling event loop, at the
   * connection limit, a job queue's circuit breaker open); `unhealthy` (not serving: not started, shutting down, broker closed, memory emergency). */
  status: 'healthy' | 'degraded' | 'unhealthy';
  /** `status === 'healthy'`. */
  isHealthy: boolean;
  /** Milliseconds since start. */
  uptime: number;
  /** Heap used as a percentage of the V8 heap limit. */
  memoryUsage: number;
  /** The memory level (from the memory source when given, else from `memoryUsage` and the thresholds). */
  memoryLevel: MemoryLevel;
  /** `false` when not accepting connections (not started, shutting down, at the connection limit, refusing under memory pressure). */
  connectionHealth: boolean;
  /** `false` when publishes are waiting for the broker. */
  queueHealth: boolean;
  /** The broker's health, `null` before start. */
  broker: BrokerHealth | null;
  /** Event-loop delay over the last window. */
  eventLoopLag: EventLoopLag;
  nodeId: string;
  /** Connections open now. */
  connections: number;
  /**
   * Every circuit breaker; present when the service reports its operations (`operations` option). An open or
   * isolated breaker adds a warning; an open `queue:` breaker makes the status `degraded`.
   */
  breakers?: BreakerStatus[];
  warnings: string[];
  errors: string[];
  /** When this check ran (epoch ms). */
  lastCheck: number;
}

/** Detailed counters: stats, Hub and broker counters, per-transport counters, performance. */
export interface ServiceMetrics {
  stats: ServiceStats;
  /** A copy of the Hub's counters, `null` before start. */
  hub: HubStats | null;
  /** The Hub's recovery reads (issued, merged) and budget (replays active and queued), `null` before start. */
  recovery: RecoveryStats | null;
  /** A copy of the broker's counters, `null` before start. */
  broker: BrokerStats | null;
  transports: Record<string, TransportStats>;
  /** Latency and event-loop lag. */
  performance: {
    averageLatency: number;
    latency: LatencySummary;
    eventLoopLag: EventLoopLag;
  };
}

/** Process and service memory: what the process uses, what the service holds, and the level. */
export interface MemoryAnalysis {
  process: NodeJS.MemoryUsage & { heapLimit: number };
  service: {
    connections: number;
    channels: number;
    subscriptions: number;
    /** Messages held by the history store, when it says (memory history). */
    historyMessages: number | null;
    /** Samples held by the latency ring. */
    latencySamples: number;
  };
  analysis: {
    heapUsedPercent: number;
    level: MemoryLevel;
    /** Where `level` came from: the memory source given in the options, or heap used vs the V8 heap limit. */
    levelSource: 'source' | 'heap';
    thresholds: MemoryThresholds;
  };
}
