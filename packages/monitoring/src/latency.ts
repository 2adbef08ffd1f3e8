import type { LatencyRecorder } from '@unisocket/core';
import type { LatencySummary } from './types';

const EMPTY: LatencySummary = { samples: 0, averageMs: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0, totalSamples: 0 };

/**
 * Average and percentiles (nearest rank) of the recorder's recent-sample ring. Runs at read time only: it copies
 * and sorts at most the ring's capacity of numbers.
 */
export function summarizeLatency(recorder: LatencyRecorder | undefined): LatencySummary {
  if (recorder === undefined || recorder.recent.size === 0) {
    return { ...EMPTY, totalSamples: recorder?.count ?? 0 };
  }
  const sorted = recorder.recent.toArray().sort((a, b) => a - b);
  let sum = 0;
  for (const v of sorted) sum += v;
  const rank = (p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  return {
    samples: sorted.length,
    averageMs: round(sum / sorted.length),
    p50Ms: rank(0.5),
    p95Ms: rank(0.95),
    p99Ms: rank(0.99),
    maxMs: sorted[sorted.length - 1]!,
    totalSamples: recorder.count,
  };
}

/** @internal */
export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
