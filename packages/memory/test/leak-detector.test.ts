import { describe, expect, it } from 'vitest';
import { LeakDetector, type LeakAnalysis, linearFit } from '../src/index';

const MiB = 1024 * 1024;

/** Feeds a detector one reading per second of fake time for `seconds`. */
function run(
  heapAt: (second: number) => number,
  seconds: number,
  suspects: (second: number) => Record<string, number> = () => ({}),
): { detector: LeakDetector; events: string[]; last: LeakAnalysis } {
  let now = 0;
  let second = 0;
  const detector = new LeakDetector({
    windowMs: 600_000,
    buckets: 20,
    now: () => now,
    suspects: () => suspects(second),
    gc: () => () => {},
    read: () => 0,
  });
  const events: string[] = [];
  detector.on('leak', () => events.push('leak'));
  detector.on('cleared', () => events.push('cleared'));
  for (second = 0; second <= seconds; second++) {
    now = second * 1000;
    detector.record(heapAt(second), now);
  }
  return { detector, events, last: detector.lastAnalysis };
}

// a sawtooth: garbage accumulates for 20 s and a GC brings the heap back to the live size
const sawtooth = (live: (s: number) => number) => (s: number) => live(s) + ((s % 20) / 20) * 30 * MiB;

describe('LeakDetector', () => {
  it('reports a sustained upward trend of the post-GC heap and names the structure growing with it', () => {
    const { events, last, detector } = run(
      sawtooth((s) => 60 * MiB + s * 40_000), // +2.3 MiB/min of live data
      900,
      (s) => ({ connections: 100, retained: s * 10, historyMessages: 5000 }),
    );
    expect(events).toEqual(['leak']);
    expect(detector.suspected).toBe(true);
    expect(last.suspected).toBe(true);
    expect(last.r2).toBeGreaterThan(0.95);
    expect(last.slopeBytesPerMinute).toBeGreaterThan(2_000_000);
    expect(last.suspects[0]).toMatchObject({ name: 'retained', growing: true });
    expect(last.suspects.filter((s) => s.growing).map((s) => s.name)).toEqual(['retained']);
    expect(last.reason).toMatch(/leak suspected: .*growing with it: retained/);
  });

  it('does not report a steady workload, however noisy between GCs', () => {
    let seed = 7;
    const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 4 * MiB;
    const { events, last } = run(
      sawtooth(() => 80 * MiB + noise()),
      1800,
      () => ({ connections: 1000 }),
    );
    expect(events).toEqual([]);
    expect(last.suspected).toBe(false);
    expect(last.samples).toBeGreaterThanOrEqual(10);
    expect(last.reason).toMatch(/^no leak/);
  });

  it('does not report a warm-up that levels off', () => {
    // caches fill over the first 5 minutes, then the heap stays flat
    const { events, last } = run(
      sawtooth((s) => 40 * MiB + Math.min(s, 300) * 100_000),
      700,
    );
    expect(events).toEqual([]);
    expect(last.reason).toMatch(/levelled off|under the|irregular/);
  });

  it('clears the report when the growth stops and the window moves on', () => {
    const { events } = run(
      sawtooth((s) => 40 * MiB + Math.min(s, 700) * 60_000),
      1700,
    );
    expect(events).toEqual(['leak', 'cleared']);
  });

  it('says it is still collecting before it has enough low points', () => {
    const { last } = run(() => 10 * MiB, 100);
    expect(last).toMatchObject({ suspected: false, reason: expect.stringMatching(/collecting low points/) });
  });

  it('rejects bad options with a TypeError', () => {
    expect(() => new LeakDetector({ buckets: 2 })).toThrow(/buckets must be at least 3/);
    expect(() => new LeakDetector({ minR2: 2 })).toThrow(/minR2/);
    expect(() => new LeakDetector({ windowMs: 0 })).toThrow(/windowMs/);
  });
});

describe('linearFit', () => {
  it('fits a line and its R²', () => {
    expect(linearFit([0, 1, 2, 3], [1, 3, 5, 7])).toEqual({ slope: 2, intercept: 1, r2: 1 });
    expect(linearFit([0, 1, 2], [5, 5, 5])).toMatchObject({ slope: 0, r2: 1 });
  });
});
