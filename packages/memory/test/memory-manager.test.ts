import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MemoryManager,
  type MemoryLevelChange,
  type MemoryReading,
  defaultSemiSpaceMiB,
  oldGenerationLimit,
  readMemory,
  youngGenerationReserve,
} from '../src/index';

const MiB = 1024 * 1024;
const LIMIT = 100 * MiB;

/** A manager reading a settable old-generation use (percent of a 100 MiB limit). */
function fake(options: ConstructorParameters<typeof MemoryManager>[0] = {}) {
  let percent = 10;
  let rss = 50 * MiB;
  let gcListener: ((used: number, at: number) => void) | undefined;
  const read = (): MemoryReading => ({
    at: Date.now(),
    rss,
    heapUsed: percent * MiB,
    heapTotal: 2 * percent * MiB,
    external: 0,
    arrayBuffers: 0,
    heapLimit: LIMIT + 48 * MiB,
    oldGenerationUsed: percent * MiB,
    oldGenerationLimit: LIMIT,
  });
  const manager = new MemoryManager({
    heapLimitBytes: LIMIT,
    read,
    gc: (listener) => {
      gcListener = listener;
      return () => (gcListener = undefined);
    },
    ...options,
  });
  const changes: string[] = [];
  manager.on('level', (c: MemoryLevelChange) => changes.push(`${c.from}->${c.to}`));
  return {
    manager,
    changes,
    at(p: number) {
      percent = p;
      return manager.sample();
    },
    rss(bytes: number) {
      rss = bytes;
    },
    gc(p: number) {
      gcListener?.(p * MiB, Date.now());
    },
  };
}

describe('MemoryManager', () => {
  it('moves through the levels at the thresholds, one event per change, with hysteresis on the way down', () => {
    const f = fake({ useGcReadings: false });
    expect(f.at(69).level).toBe('normal');
    expect(f.at(70).level).toBe('warning');
    expect(f.at(84.9).level).toBe('warning');
    expect(f.at(85).level).toBe('critical');
    expect(f.at(96).level).toBe('emergency');
    expect(f.at(91).level).toBe('emergency'); // not 5 points below 95 yet
    expect(f.at(89.9).level).toBe('critical');
    expect(f.at(81).level).toBe('critical');
    expect(f.at(79).level).toBe('warning');
    expect(f.at(66).level).toBe('warning');
    expect(f.at(64).level).toBe('normal');
    expect(f.at(90).level).toBe('critical'); // skipping a level is one change
    expect(f.at(10).level).toBe('normal');
    expect(f.changes).toEqual([
      'normal->warning',
      'warning->critical',
      'critical->emergency',
      'emergency->critical',
      'critical->warning',
      'warning->normal',
      'normal->critical',
      'critical->normal',
    ]);
  });

  it('judges the heap by what survived the last major GC, unless the heap in use reaches the emergency threshold', () => {
    const f = fake();
    f.manager.start();
    try {
      expect(f.at(80)).toMatchObject({ level: 'warning', heapSource: 'sample' }); // no GC seen yet
      f.gc(40); // the 80% held 40 points of garbage
      expect(f.at(80)).toMatchObject({ level: 'normal', heapSource: 'gc', heapPercent: 40 });
      f.gc(87);
      expect(f.at(90)).toMatchObject({ level: 'critical', heapPercent: 87 });
      expect(f.at(96)).toMatchObject({ level: 'emergency', heapSource: 'sample', heapPercent: 96 });
    } finally {
      f.manager.stop();
    }
  });

  it('counts RSS against rssLimitBytes when one is given', () => {
    const f = fake({ useGcReadings: false, rssLimitBytes: 200 * MiB });
    f.rss(180 * MiB);
    const status = f.at(10);
    expect(status).toMatchObject({ level: 'critical', rssPercent: 90, heapPercent: 10, pressure: 90 });
  });

  it("samples on an unref'd interval", async () => {
    const f = fake({ sampleIntervalMs: 5, useGcReadings: false });
    let samples = 0;
    f.manager.on('sample', () => samples++);
    f.manager.start().start();
    await new Promise((r) => setTimeout(r, 60));
    f.manager.stop();
    expect(samples).toBeGreaterThan(3);
    expect(f.manager.running).toBe(false);
  });

  it('rejects bad options with a TypeError that says what to change', () => {
    expect(() => new MemoryManager({ thresholds: { warning: 90 } })).toThrow(/warning \(90\) < critical \(85\)/);
    expect(() => new MemoryManager({ thresholds: { emergency: 120 } })).toThrow(
      /thresholds.emergency must be a number from 0 to 100/,
    );
    expect(() => new MemoryManager({ thresholds: { severe: 50 } as never })).toThrow(
      /unknown memory threshold "severe"/,
    );
    expect(() => new MemoryManager({ sampleIntervalMs: 0 })).toThrow(/sampleIntervalMs/);
    expect(() => new MemoryManager({ hysteresis: -1 })).toThrow(/hysteresis/);
  });
});

describe('heap readings', () => {
  it('finds the exact old generation limit of a process started with --max-old-space-size, on this Node', () => {
    // the test runs on every Node that CI runs (20 and 24): a wrong young generation reserve would make every memory
    // level fire late, after "heap out of memory"
    const dist = join(__dirname, '..', 'dist', 'index.cjs');
    for (const mb of [64, 96, 512]) {
      const out = spawnSync(
        process.execPath,
        [`--max-old-space-size=${mb}`, '-e', `console.log(require(${JSON.stringify(dist)}).oldGenerationLimit())`],
        { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
      );
      expect(out.stderr).toBe('');
      expect(Number(out.stdout.trim()) / MiB, `node ${process.version} --max-old-space-size=${mb}`).toBe(mb);
    }
  });

  it('measures against the old generation limit: heap_size_limit minus the young generation reserve', () => {
    expect(youngGenerationReserve([], 16)).toBe(48 * MiB);
    expect(youngGenerationReserve(['--max-semi-space-size=4'])).toBe(12 * MiB);
    // V8 13 (Node 24) reserves 64 MiB semi-spaces by default, V8 12 and older (Node 20, 22) 16 MiB
    expect(defaultSemiSpaceMiB('11.3.244.8-node.33', 'x64')).toBe(16);
    expect(defaultSemiSpaceMiB('12.4.254.21-node.33', 'arm64')).toBe(16);
    expect(defaultSemiSpaceMiB('13.6.233.17-node.40', 'x64')).toBe(64);
    expect(defaultSemiSpaceMiB('13.6.233.17-node.40', 'ia32')).toBe(32);
    const reserve = youngGenerationReserve([]);
    expect(oldGenerationLimit(96 * MiB + reserve)).toBe(96 * MiB);
    const r = readMemory();
    expect(r.oldGenerationUsed).toBeGreaterThan(0);
    expect(r.oldGenerationUsed).toBeLessThanOrEqual(r.heapUsed);
    expect(r.oldGenerationLimit).toBeLessThan(r.heapLimit);
  });
});
