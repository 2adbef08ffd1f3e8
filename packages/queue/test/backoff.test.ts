import { describe, expect, it } from 'vitest';
import { backoffDelay, retryDelay } from '../src/index';

describe('backoffDelay', () => {
  it('doubles from delayMs after each failure, capped at maxDelayMs', () => {
    const backoff = { type: 'exponential', delayMs: 100, maxDelayMs: 1_000 } as const;
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(backoff, n))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(backoffDelay(backoff, 10_000)).toBe(1_000);
  });

  it('is BullMQ’s exponential formula below the cap', () => {
    const backoff = { type: 'exponential', delayMs: 1_000, maxDelayMs: Number.MAX_SAFE_INTEGER } as const;
    for (let n = 1; n <= 10; n++) expect(backoffDelay(backoff, n)).toBe(Math.round(2 ** (n - 1) * 1_000));
  });

  it('fixed waits the same every time', () => {
    const backoff = { type: 'fixed', delayMs: 250, maxDelayMs: 250 } as const;
    expect([1, 2, 7].map((n) => backoffDelay(backoff, n))).toEqual([250, 250, 250]);
  });
});

describe('retryDelay', () => {
  const backoff = { type: 'exponential', delayMs: 100, maxDelayMs: 10_000 } as const;

  it('retries while attempts remain', () => {
    const policy = { attempts: 3, backoff, since: 0 };
    expect(retryDelay(policy, 1)).toBe(100);
    expect(retryDelay(policy, 2)).toBe(200);
    expect(retryDelay(policy, 3)).toBeUndefined();
    expect(retryDelay({ attempts: 1, backoff, since: 0 }, 1)).toBeUndefined();
  });

  it('with retryForMs, retries only when the next attempt starts within the time', () => {
    const policy = { attempts: Number.POSITIVE_INFINITY, backoff, retryForMs: 1_000, since: 10_000 };
    expect(retryDelay(policy, 1, 10_050)).toBe(100);
    expect(retryDelay(policy, 3, 10_600)).toBe(400); // starts at 11 000: the last moment
    expect(retryDelay(policy, 3, 10_601)).toBeUndefined();
    expect(retryDelay(policy, 20, 10_001)).toBeUndefined(); // 10 s wait: past the deadline
  });
});
