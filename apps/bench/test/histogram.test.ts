import { describe, expect, it } from 'vitest';
import {
  createHistogram,
  encodeHistogram,
  mergeEncoded,
  recordMs,
  summarize,
  MAX_TRACKABLE_US,
} from '../src/histogram.mjs';

describe('latency histograms', () => {
  it('merges per-process histograms and reads percentiles within HDR precision', () => {
    const a = createHistogram();
    const b = createHistogram();
    // a: 1..1000 ms, b: 1001..2000 ms → merged uniform 1..2000 ms
    for (let i = 1; i <= 1000; i++) recordMs(a, i);
    for (let i = 1001; i <= 2000; i++) recordMs(b, i);
    const merged = summarize(mergeEncoded([encodeHistogram(a), encodeHistogram(b)]));
    expect(merged.count).toBe(2000);
    expect(merged.p50Ms).toBeCloseTo(1000, -1); // within 10 ms of 1000, i.e. well inside 3 significant digits
    expect(Math.abs(merged.p99Ms - 1980) / 1980).toBeLessThan(0.002);
    expect(Math.abs(merged.p999Ms - 1998) / 1998).toBeLessThan(0.002);
    expect(Math.abs(merged.maxMs - 2000) / 2000).toBeLessThan(0.002);
  });

  it('keeps microsecond resolution for sub-millisecond latencies', () => {
    const h = createHistogram();
    for (let i = 0; i < 100; i++) recordMs(h, 0.25);
    expect(summarize(h).p50Ms).toBeCloseTo(0.25, 3);
  });

  it('records clock noise below zero as 0 and clamps huge values instead of dropping them', () => {
    const h = createHistogram();
    recordMs(h, -0.5);
    recordMs(h, 1e12);
    const s = summarize(h);
    expect(s.count).toBe(2);
    expect(s.maxMs).toBeGreaterThanOrEqual(MAX_TRACKABLE_US / 1000);
    expect(h.getValueAtPercentile(1)).toBe(0);
  });

  it('reports NaN percentiles for an empty histogram', () => {
    const s = summarize(mergeEncoded([]));
    expect(s.count).toBe(0);
    expect(s.p99Ms).toBeNaN();
  });
});
