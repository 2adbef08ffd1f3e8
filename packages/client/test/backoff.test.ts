import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/index';

const options = { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2 };

describe('backoffDelay (exponential, full jitter)', () => {
  it('draws uniformly from [0, cap) where the cap doubles per attempt', () => {
    const top = () => 0.999_999;
    expect(backoffDelay(1, options, top)).toBe(499);
    expect(backoffDelay(2, options, top)).toBe(999);
    expect(backoffDelay(3, options, top)).toBe(1_999);
    expect(backoffDelay(1, options, () => 0)).toBe(0);
    expect(backoffDelay(3, options, () => 0.5)).toBe(1_000);
  });

  it('never exceeds maxDelayMs, also for huge attempt numbers', () => {
    const top = () => 0.999_999;
    expect(backoffDelay(7, options, top)).toBe(29_999);
    expect(backoffDelay(10_000, options, top)).toBe(29_999);
    expect(Number.isFinite(backoffDelay(1e9, { ...options, factor: 10 }, top))).toBe(true);
  });

  it('spreads delays over the window (full jitter, not a fixed step)', () => {
    const samples = Array.from({ length: 2_000 }, () => backoffDelay(4, options));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThan(4_000);
    const low = samples.filter((s) => s < 1_000).length;
    const high = samples.filter((s) => s >= 3_000).length;
    // each quarter of the window holds about a quarter of the draws
    expect(low).toBeGreaterThan(350);
    expect(high).toBeGreaterThan(350);
  });
});
