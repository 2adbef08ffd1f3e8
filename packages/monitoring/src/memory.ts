import { getHeapStatistics } from 'node:v8';
import type { Hub } from '@unisocket/core';
import { round } from './latency';
import type { MemoryAnalysis, MemoryLevel, MemoryThresholds } from './types';

/**
 * Where the memory level comes from: an object with a `level` (such as `MemoryManager` from `@unisocket/memory`)
 * or a function returning it. Without one, the level follows heap used vs the V8 heap limit and the thresholds.
 */
export type MemoryLevelSource = { readonly level: MemoryLevel } | (() => MemoryLevel);

/** Defaults of {@link MemoryThresholds} (the unified-service seed's). */
export const DEFAULT_MEMORY_THRESHOLDS: Readonly<MemoryThresholds> = { warning: 70, critical: 85, emergency: 95 };

const LEVELS: readonly MemoryLevel[] = ['normal', 'warning', 'critical', 'emergency'];

/** A memory level as a number: normal 0, warning 1, critical 2, emergency 3 (`unisocket_memory_level`). */
export function memoryLevelValue(level: MemoryLevel): number {
  return LEVELS.indexOf(level);
}

/** The current memory picture. */
export interface MemoryStatus {
  level: MemoryLevel;
  levelSource: 'source' | 'heap';
  heapUsed: number;
  heapLimit: number;
  /** Heap used as a percentage of the heap limit, one decimal. */
  heapUsedPercent: number;
  rss: number;
}

/** Validates thresholds and fills defaults; throws a `TypeError` that names the bad field. */
export function resolveMemoryThresholds(given: Partial<MemoryThresholds> | undefined): MemoryThresholds {
  const t = { ...DEFAULT_MEMORY_THRESHOLDS, ...given };
  for (const key of ['warning', 'critical', 'emergency'] as const) {
    const v = t[key];
    if (typeof v !== 'number' || !(v > 0) || v > 100) {
      throw new TypeError(`memoryThresholds.${key} must be a percentage in (0, 100], got ${String(v)}`);
    }
  }
  if (!(t.warning < t.critical && t.critical < t.emergency)) {
    throw new TypeError(
      `memoryThresholds must increase: warning (${t.warning}) < critical (${t.critical}) < emergency (${t.emergency})`,
    );
  }
  return t;
}

/** Validates a memory source. */
export function assertMemorySource(source: unknown): asserts source is MemoryLevelSource | undefined {
  if (source === undefined || typeof source === 'function') return;
  if (typeof source !== 'object' || source === null || !('level' in source)) {
    throw new TypeError('memory must be an object with a `level` (e.g. a MemoryManager) or a function returning one');
  }
}

/** Reads the memory level and heap figures (one `process.memoryUsage()` call). */
export function readMemory(source: MemoryLevelSource | undefined, thresholds: MemoryThresholds): MemoryStatus {
  const mem = process.memoryUsage();
  const heapLimit = getHeapStatistics().heap_size_limit;
  const pct = heapLimit > 0 ? (mem.heapUsed / heapLimit) * 100 : 0;
  let level: MemoryLevel | undefined;
  if (source !== undefined) {
    const given = typeof source === 'function' ? source() : source.level;
    if (LEVELS.includes(given)) level = given;
  }
  return {
    level: level ?? levelOf(pct, thresholds),
    levelSource: level === undefined ? 'heap' : 'source',
    heapUsed: mem.heapUsed,
    heapLimit,
    heapUsedPercent: round(pct, 1),
    rss: mem.rss,
  };
}

function levelOf(pct: number, t: MemoryThresholds): MemoryLevel {
  return pct >= t.emergency ? 'emergency' : pct >= t.critical ? 'critical' : pct >= t.warning ? 'warning' : 'normal';
}

/** The seed's `forceMemoryAnalysis()`: process memory, what the service holds, and the level. */
export function analyzeMemory(
  hub: Hub | undefined,
  source: MemoryLevelSource | undefined,
  thresholds: MemoryThresholds = DEFAULT_MEMORY_THRESHOLDS,
): MemoryAnalysis {
  const status = readMemory(source, thresholds);
  const history = hub?.broker.history as { messageCount?: unknown } | undefined;
  return {
    process: { ...process.memoryUsage(), heapLimit: status.heapLimit },
    service: {
      connections: hub?.connectionCount ?? 0,
      channels: hub?.channelCount ?? 0,
      subscriptions: hub?.subscriptionCount ?? 0,
      historyMessages: typeof history?.messageCount === 'number' ? history.messageCount : null,
      latencySamples: hub?.latency.recent.size ?? 0,
    },
    analysis: {
      heapUsedPercent: status.heapUsedPercent,
      level: status.level,
      levelSource: status.levelSource,
      thresholds: { ...thresholds },
    },
  };
}
