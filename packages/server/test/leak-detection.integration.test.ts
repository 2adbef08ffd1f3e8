import { afterAll, describe, expect, it } from 'vitest';
import { ChildServer, TestClient, sleep } from './child';

// The LeakDetector of a running server (child process): a steady workload is not reported; the same workload with a
// deliberate leak (the test fixture retains a copy of every published payload) is, naming the growing array.
// The window is shortened to 6 s and the fixture forces a GC every 200 ms (--expose-gc) so post-GC readings come at
// test speed; in production V8's own major GCs provide them over the default 10-minute window.

const WINDOW_MS = 6_000;

let child: ChildServer | undefined;
afterAll(async () => {
  await child?.stop();
});

interface Analysis {
  analysis: {
    leak: {
      suspected: boolean;
      reason: string;
      samples: number;
      growthBytes: number;
      suspects: { name: string; growing: boolean }[];
    };
  };
}

describe('leak detection on a running server', () => {
  it('does not report a steady workload, and reports a deliberate leak with the structure that grows', {
    timeout: 90_000,
  }, async () => {
    child = await ChildServer.start(
      {
        memory: {
          sampleIntervalMs: 100,
          leakDetection: { windowMs: WINDOW_MS, buckets: 12, minGrowthBytes: 2 * 1024 * 1024, trackRetained: true },
        },
      },
      ['--expose-gc'],
    );
    const c = child;
    const clients = await Promise.all(
      Array.from({ length: 5 }, () => TestClient.open(c.url, ['feed'], { keep: false })),
    );
    await c.call('gcEvery', { everyMs: 200 });
    // about 1 KiB every 2 ms: 500 messages/s to 5 subscribers
    await c.call('startTicker', { channel: 'feed', intervalMs: 2, size: 1000 });

    // steady: two full windows, no report
    await sleep(2 * WINDOW_MS + 1_000);
    const steady = await c.call<Analysis>('analysis');
    console.log(`[leak detection] steady workload: ${steady.analysis.leak.reason}`);
    expect(steady.analysis.leak.samples).toBeGreaterThanOrEqual(10);
    expect(steady.analysis.leak.suspected).toBe(false);
    expect(c.events.some((e) => e.event === 'leak')).toBe(false);

    // the same workload, now retaining a copy of every payload: ~0.5 MB/s
    await c.call('leak', { on: true });
    const leakStart = Date.now();
    const leak = await c.waitEvent((e) => e.event === 'leak', 3 * WINDOW_MS);
    const report = leak.analysis as Analysis['analysis']['leak'];
    console.log(
      `[leak detection] leak reported ${((Date.now() - leakStart) / 1000).toFixed(1)} s after it started: ${report.reason}`,
    );
    expect(report.suspected).toBe(true);
    expect(report.growthBytes).toBeGreaterThan(2 * 1024 * 1024);
    expect(report.suspects[0]).toMatchObject({ name: 'retained', growing: true });
    expect(report.suspects.filter((s) => s.growing).map((s) => s.name)).toEqual(['retained']);
    const health = await fetch(`http://127.0.0.1:${c.port}/health`).then(
      (r) => r.json() as Promise<{ status: string; warnings: string[] }>,
    );
    expect(health.warnings.join(' ')).toMatch(/leak suspected/);

    // the leak stops growing: the report clears once the window has moved past it
    await c.call('leak', { on: false });
    await c.waitEvent((e) => e.event === 'leakCleared', 3 * WINDOW_MS);
    await c.call('stopTicker', {});
    for (const x of clients) x.close();
  });
});
