import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

const MiB = 1024 * 1024;

/** One reading of the process's memory. Every size is in bytes. */
export interface MemoryReading {
  /** When it was read (epoch ms). */
  at: number;
  /** Resident set size of the process. */
  rss: number;
  /** V8 heap in use (young and old generation, garbage not yet collected included). */
  heapUsed: number;
  /** V8 heap committed. */
  heapTotal: number;
  /** Memory of C++ objects bound to JavaScript objects (Buffers' backing stores among them). */
  external: number;
  /** Memory of `ArrayBuffer`s and `SharedArrayBuffer`s (included in `external`). */
  arrayBuffers: number;
  /** V8's `heap_size_limit`: the old generation's limit plus the young generation's reserve. */
  heapLimit: number;
  /** The old generation in use: the heap minus the young generation (`new_space`, `new_large_object_space`). */
  oldGenerationUsed: number;
  /** What the old generation may grow to before V8 gives up with "heap out of memory" ({@link oldGenerationLimit}). */
  oldGenerationLimit: number;
}

const BITS_64 = new Set(['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el']);

/**
 * V8's default maximum semi-space size in MiB: 16 on 64-bit up to V8 12 (Node 20 and 22), 64 from V8 13 (Node 24),
 * half of that on 32-bit. Measured: `--max-old-space-size=96` gives a `heap_size_limit` of 144 MiB on Node 20 and 22,
 * 288 MiB on Node 24 (and 144 MiB there too with `--max-semi-space-size=16`).
 */
export function defaultSemiSpaceMiB(v8Version: string = process.versions.v8, arch: string = process.arch): number {
  const major = Number.parseInt(v8Version, 10);
  const base = Number.isFinite(major) && major >= 13 ? 64 : 16;
  return BITS_64.has(arch) ? base : base / 2;
}

/**
 * The bytes V8 reserves for the young generation out of `heap_size_limit`: three semi-spaces (two semi-spaces and
 * the young large-object space), {@link defaultSemiSpaceMiB} each unless `--max-semi-space-size` says otherwise.
 */
export function youngGenerationReserve(
  flags: readonly string[] = nodeFlags(),
  semiSpaceDefaultMiB: number = defaultSemiSpaceMiB(),
): number {
  let semiSpaceMiB = semiSpaceDefaultMiB;
  for (const flag of flags) {
    const match = /^--max[-_]semi[-_]space[-_]size=(\d+(?:\.\d+)?)$/.exec(flag);
    if (match !== null) semiSpaceMiB = Number(match[1]);
  }
  return Math.round(3 * semiSpaceMiB * MiB);
}

/**
 * The old generation's limit: V8's `heap_size_limit` minus the young generation's reserve. It is what runs out when a
 * process dies with "JavaScript heap out of memory".
 *
 * Why not `heap_size_limit` itself: with `--max-old-space-size=64` a process dies when its heap reaches about 65% of
 * `heap_size_limit` (the young generation's 48 MiB are never all in use), so thresholds of 70/85/95% of it would never
 * fire. Against this limit the same process (allocating without pause) died at about 94%.
 */
export function oldGenerationLimit(heapSizeLimit: number = getHeapStatistics().heap_size_limit): number {
  return Math.max(heapSizeLimit - youngGenerationReserve(), Math.floor(heapSizeLimit / 4));
}

/**
 * The share of the old generation's limit a process can hold for long: at or above 80% of it, V8 aborts a process
 * whose mark-compacts are "ineffective" (4 in a row with the mutator getting under 40% of the time) with
 * "Ineffective mark-compacts near heap limit", well before the limit itself. Measured here: a server forced through
 * GCs at 81% of a 96 MiB old generation died that way.
 */
export const SUSTAINABLE_HEAP_RATIO = 0.8;

/**
 * The default limit memory pressure percentages refer to: {@link SUSTAINABLE_HEAP_RATIO} of the old generation's
 * limit, so that every level (70/85/95% by default) is reached, and acted on, before V8's own failure zone.
 */
export function heapPressureLimit(heapSizeLimit: number = getHeapStatistics().heap_size_limit): number {
  return Math.floor(oldGenerationLimit(heapSizeLimit) * SUSTAINABLE_HEAP_RATIO);
}

/** The old generation in use now: heap spaces other than the young generation's. */
export function oldGenerationUsed(): number {
  let used = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (space.space_name !== 'new_space' && space.space_name !== 'new_large_object_space')
      used += space.space_used_size;
  }
  return used;
}

/** Reads the process's memory now. */
export function readMemory(): MemoryReading {
  const usage = process.memoryUsage();
  const heapLimit = getHeapStatistics().heap_size_limit;
  return {
    at: Date.now(),
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    heapLimit,
    oldGenerationUsed: oldGenerationUsed(),
    oldGenerationLimit: oldGenerationLimit(heapLimit),
  };
}

/** A source of post-GC readings: calls `listener` with the old generation in use after each major GC. */
export type GcSource = (listener: (oldGenerationUsed: number, at: number) => void) => () => void;

const gcListeners = new Set<(oldGenerationUsed: number, at: number) => void>();
let gcObserver: PerformanceObserver | undefined;

/**
 * Calls `listener` after every major (mark-compact) garbage collection with the old generation in use, read as the
 * `gc` performance entry is delivered (right after the collection, before much else ran). One `PerformanceObserver`
 * serves every listener. Returns the function that stops listening.
 */
export const onMajorGc: GcSource = (listener) => {
  gcListeners.add(listener);
  if (gcObserver === undefined) {
    gcObserver = new PerformanceObserver((list) => {
      let major = false;
      for (const entry of list.getEntries()) {
        const detail = (entry as unknown as { detail?: { kind?: number } }).detail;
        if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major = true;
      }
      if (!major) return;
      const used = oldGenerationUsed();
      const at = Date.now();
      for (const l of gcListeners) l(used, at);
    });
    gcObserver.observe({ entryTypes: ['gc'] });
  }
  return () => {
    gcListeners.delete(listener);
    if (gcListeners.size === 0 && gcObserver !== undefined) {
      gcObserver.disconnect();
      gcObserver = undefined;
    }
  };
};

function nodeFlags(): string[] {
  const fromEnv = (process.env.NODE_OPTIONS ?? '').split(/\s+/).filter((f) => f.length > 0);
  return [...fromEnv, ...process.execArgv];
}
