/**
 * @unisocket/monitoring — service statistics, health checks, memory analysis and Prometheus metrics for a unisocket
 * Hub. Everything is read at request/scrape time from counters the Hub keeps; nothing runs per message.
 * @packageDocumentation
 */
export { Monitor, createMonitor, type MonitorOptions, type MonitorSample } from './monitor';
export {
  StatisticsCollector,
  type StatisticsCollectorOptions,
  type StatsSample,
  DROP_REASONS,
} from './statistics';
export {
  HealthChecker,
  type HealthCheckerOptions,
  type EventLoopThresholds,
  DEFAULT_EVENT_LOOP_THRESHOLDS,
} from './health';
export { EventLoopMonitor, type EventLoopMonitorOptions } from './event-loop';
export {
  PrometheusMetrics,
  type PrometheusMetricsOptions,
  METRIC_NAMES,
  METRIC_PREFIX,
} from './prometheus';
export {
  OPERATIONS_METRIC_NAMES,
  DEFAULT_QUEUE_COUNTS_TIMEOUT_MS,
} from './operations-metrics';
export { QUEUE_BREAKER_PREFIX } from './operations';
export {
  type MemoryLevelSource,
  type MemorySnapshot,
  DEFAULT_MEMORY_THRESHOLDS,
  analyzeMemory,
  readMemorySnapshot,
  resolveMemoryThresholds,
  memoryLevelValue,
} from './memory';
export { type MemoryStatus, readMemory } from './compat';
export { summarizeLatency } from './latency';
export type {
  HubSource,
  MemoryLevel,
  MemoryThresholds,
  LatencySummary,
  EventLoopLag,
  TransportStats,
  ServiceStats,
  HealthStatus,
  ServiceMetrics,
  MemoryAnalysis,
  BreakerStatus,
  WebhookStats,
  QueueJobCounts,
  OperationsSnapshot,
  OperationsSource,
  QueueCountsSource,
} from './types';
export { BREAKER_STATES, QUEUE_JOB_STATES } from './types';
export { parsePrometheusText, type PrometheusFamily, type PrometheusSample } from './exposition';
