/**
 * @unisocket/memory — bounded data structures and memory management: memory pressure levels with hysteresis,
 * progressive degradation, and leak detection.
 *
 * This package has no dependency on the rest of unisocket: the server wires it to the Hub.
 * @packageDocumentation
 */
export { CircularBuffer } from './circular-buffer';
export { LRUCache, type LRUCacheOptions } from './lru-cache';
export { PriorityQueue, type PriorityQueueOptions } from './priority-queue';
export {
  type MemoryReading,
  type GcSource,
  readMemory,
  oldGenerationLimit,
  oldGenerationUsed,
  heapPressureLimit,
  SUSTAINABLE_HEAP_RATIO,
  youngGenerationReserve,
  defaultSemiSpaceMiB,
  onMajorGc,
} from './heap';
export {
  MemoryManager,
  type MemoryManagerOptions,
  type MemoryManagerEvents,
  type MemoryLevel,
  type MemoryLevelChange,
  type MemoryStatus,
  type MemoryThresholds,
  MEMORY_LEVELS,
  DEFAULT_MEMORY_THRESHOLDS,
  resolveThresholds,
  resolveMemoryManagerOptions,
  type ResolvedMemoryManagerOptions,
  rank as levelRank,
} from './memory-manager';
export {
  ProgressiveDegradation,
  type ProgressiveDegradationOptions,
  type ProgressiveDegradationEvents,
  type DegradationPlan,
  type DegradationStep,
  type DegradationEvent,
} from './degradation';
export {
  LeakDetector,
  type LeakDetectorOptions,
  type LeakDetectorEvents,
  type LeakAnalysis,
  type SuspectTrend,
  resolveLeakDetectorOptions,
  type ResolvedLeakDetectorOptions,
  linearFit,
} from './leak-detector';
