import type { Hub } from '@unisocket/core';
import {
  DEFAULT_MEMORY_THRESHOLDS,
  MEMORY_LEVELS,
  type MemoryLevel,
  type MemoryThresholds,
  levelRank,
  readMemory as readProcessMemory,
  resolveThresholds,
} from '@unisocket/memory';
import { round } from './latency';
import type { MemoryAnalysis } from './types';

export { DEFAULT_MEMORY_THRESHOLDS };

/**
 * Where the memory level comes from: an object with a `level` (such as `MemoryManager` from `@unisocket/memory`)
 * or a function returning it. Without one, the level follows heap used vs the V8 heap limit and the thresholds.
 */
export type MemoryLevelSource = { readonly level: MemoryLevel } | (() => MemoryLevel);

/** A memory level as a number: normal 0, warning 1, critical 2, emergency 3 (`unisocket_memory_level`). */
export function memoryLevelValue(level: MemoryLevel): number {
  return levelRank(level);
}

/**
 * What monitoring reports about memory at one moment: the level (from the level source, or heap used vs the heap
 * limit) and the heap figures it was judged on. Not the `MemoryStatus` of `@unisocket/memory`, which is one sample of
 * a `MemoryManager`.
 */
export interface MemorySnapshot {
  level: MemoryLevel;
  levelSource: 'source' | 'heap';
  heapUsed: number;
  heapLimit: number;
  /** Heap used as a percentage of the heap limit, one decimal. */
  heapUsedPercent: number;
  rss: number;
}

/**
 * Validates thresholds and fills defaults (`resolveThresholds` of `@unisocket/memory`); throws a `TypeError` that
 * names the bad field.
 */
export function resolveMemoryThresholds(given: Partial<MemoryThresholds> | undefined): MemoryThresholds {
  try {
    return resolveThresholds(given);
  } catch (error) {
    throw new TypeError(`memoryThresholds: ${(error as Error).message}`);
  }
}

/** Validates a memory source. */
export function assertMemorySource(source: unknown): asserts source is MemoryLevelSource | undefined {
  if (source === undefined || typeof source === 'function') return;
  if (typeof source !== 'object' || source === null || !('level' in source)) {
    throw new TypeError('memory must be an object with a `level` (e.g. a MemoryManager) or a function returning one');
  }
}

/** Reads the memory level and heap figures (one reading of `@unisocket/memory`'s `readMemory`). */
export function readMemorySnapshot(
  source: MemoryLevelSource | undefined,
  thresholds: MemoryThresholds,
): MemorySnapshot {
  const reading = readProcessMemory();
  const heapLimit = reading.heapLimit;
  const pct = heapLimit > 0 ? (reading.heapUsed / heapLimit) * 100 : 0;
  let level: MemoryLevel | undefined;
  if (source !== undefined) {
    const given = typeof source === 'function' ? source() : source.level;
    if (MEMORY_LEVELS.includes(given)) level = given;
  }
  return {
    level: level ?? levelOf(pct, thresholds),
    levelSource: level === undefined ? 'heap' : 'source',
    heapUsed: reading.heapUsed,
    heapLimit,
    heapUsedPercent: round(pct, 1),
    rss: reading.rss,
  };
}

function levelOf(pct: number, t: MemoryThresholds): MemoryLevel {
  return pct >= t.emergency ? 'emergency' : pct >= t.critical ? 'critical' : pct >= t.warning ? 'warning' : 'normal';
}

/** `forceMemoryAnalysis()`: process memory, what the service holds, and the level. */
export function analyzeMemory(
  hub: Hub | undefined,
  source: MemoryLevelSource | undefined,
  thresholds: MemoryThresholds = DEFAULT_MEMORY_THRESHOLDS,
): MemoryAnalysis {
  const status = readMemorySnapshot(source, thresholds);
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
