import { afterAll, describe, expect, it } from 'vitest';
import { ChildServer, TestClient, sleep, until, upgradeStatus } from './child';

// A server in a child process with a 96 MiB old generation is pushed through warning, critical and emergency by a heap
// ballast (held by the test fixture, not by the library), sees each level's action happen, recovers when the ballast
// goes, and never dies of "heap out of memory".

const MiB = 1024 * 1024;
const HISTORY = 500;

let child: ChildServer | undefined;
afterAll(async () => {
  await child?.stop();
});

interface Snapshot {
  level: string;
  pressure: number;
  heapSource: string;
  rss: number;
  heapUsed: number;
  service: { historySize: number | null; historyMessages: number | null; bufferedBytes: number; connections: number };
}

describe('memory pressure in a small heap', () => {
  it('degrades level by level, recovers, and never runs out of memory', { timeout: 180_000 }, async () => {
    const started = Date.now();
    const timeline: string[] = [];
    const mark = (what: string) =>
      timeline.push(`${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${what}`);
    child = await ChildServer.start(
      {
        limits: { maxBufferedBytes: 32 * MiB, maxConnectionsPerIp: 1000 },
        history: { size: HISTORY },
        backpressure: { policies: [{ pattern: 'volatile.*', policy: 'drop-oldest' }] },
        memory: { sampleIntervalMs: 100, emergencyBufferedBytes: 256 * 1024, leakDetection: false },
      },
      ['--max-old-space-size=96', '--expose-gc'],
    );
    const c = child;
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${c.port}/health`);
      return { status: res.status, body: (await res.json()) as { status: string; memoryLevel: string } };
    };

    const idle = await Promise.all([TestClient.open(c.url, ['news']), TestClient.open(c.url, ['news'])]);
    const volatile = await TestClient.open(c.url, ['volatile.ticks']);
    const slow = await Promise.all([TestClient.open(c.url, ['bulk']), TestClient.open(c.url, ['bulk'])]);
    for (const s of slow) s.pause();
    await c.call('publish', { channel: 'hist', count: HISTORY, size: 1000 });
    await c.call('publish', { channel: 'bulk', count: 400, size: 32 * 1024, perTick: 4 });
    await sleep(300);
    let snap = await c.call<Snapshot>('gc');
    mark(
      `start: level ${snap.level} at ${snap.pressure}%, history ${snap.service.historyMessages} messages (${snap.service.historySize}/channel), ${(snap.service.bufferedBytes / MiB).toFixed(1)} MiB unread by the slow clients`,
    );
    expect(snap.level).toBe('normal');
    expect(snap.service.historySize).toBe(HISTORY);
    expect(snap.service.bufferedBytes).toBeGreaterThan(1 * MiB);
    const historyBefore = snap.service.historyMessages!;

    /** Grows the ballast until the level is reached (smaller steps near it, so nothing overshoots into OOM). */
    const pushTo = async (level: string, threshold: number): Promise<Snapshot> => {
      for (let i = 0; i < 200 && snap.level !== level; i++) {
        const mb = snap.pressure < threshold - 15 ? 8 : snap.pressure < threshold - 5 ? 2 : 1;
        snap = await c.call<Snapshot>('ballast', { mb, settleMs: 250 });
        expect(c.exited).toBeUndefined();
      }
      expect(snap.level).toBe(level);
      mark(
        `${level} at ${snap.pressure}% (${snap.heapSource} reading), heap used ${(snap.heapUsed / MiB).toFixed(1)} MiB, RSS ${(snap.rss / MiB).toFixed(1)} MiB`,
      );
      return snap;
    };

    // warning: history, idempotency cache and recovery buffers shrink. Shrinking the history frees heap (the 'bulk'
    // channel kept 12.5 MiB), which may bring the level back to normal at once: the action works; the ballast goes on.
    snap = await pushTo('warning', 70);
    const shrunk = await c.waitEvent(
      (e) => e.event === 'degradation' && e.level === 'warning' && String(e.detail).startsWith('history'),
    );
    expect(shrunk.detail).toBe(`history ${HISTORY} -> ${HISTORY / 2} messages per channel, 400 dropped`);
    snap = await c.call<Snapshot>('snapshot');
    // 'hist' held 500 and 'bulk' 400: both kept 250
    expect(historyBefore).toBe(900);
    expect(snap.service.historyMessages).toBe(500);
    const other = c.events
      .filter((e) => e.event === 'degradation' && e.level === 'warning' && e.action === 'apply')
      .map((e) => e.detail);
    expect(other).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^idempotency cache 10000 -> 5000 keys/),
        'maxRecoveryBuffer 10000 -> 5000',
      ]),
    );
    mark(
      `  ${shrunk.detail}; now ${snap.level} at ${snap.pressure}% with ${snap.service.historyMessages} history messages`,
    );

    // critical: new connections refused with 503, volatile channels shed
    snap = await pushTo('critical', 85);
    expect(await upgradeStatus(c.url)).toBe(503);
    expect((await health()).body.status).toBe('degraded');
    await c.call('publish', { channel: 'volatile.ticks', count: 10, size: 10 });
    await sleep(100);
    expect(volatile.counts.get('volatile.ticks') ?? 0).toBe(0);
    const critical = await c.call<{ hub: { drops: { shed: number } }; refusedUpgrades: { overloaded: number } }>(
      'stats',
    );
    expect(critical.hub.drops.shed).toBe(10);
    expect(critical.refusedUpgrades.overloaded).toBeGreaterThanOrEqual(1);
    mark(`  new connection -> HTTP 503; 10 volatile messages shed; health ${(await health()).body.status}`);

    // emergency: the connections holding the most unread bytes are closed with 4503, the idle ones stay
    snap = await pushTo('emergency', 95);
    for (const s of slow) {
      const closed = await c.waitEvent((e) => e.event === 'disconnect' && e.connectionId === s.connectionId, 10_000);
      expect(closed.code).toBe(4503);
    }
    await sleep(200);
    expect(idle.every((i) => i.closed === undefined)).toBe(true);
    expect(volatile.closed).toBeUndefined();
    const h = await health();
    expect(h.status).toBe(503);
    mark(`  both slow clients closed with 4503, idle clients connected; /health ${h.status} ${h.body.status}`);

    // the pressure falls: everything comes back
    snap = await c.call<Snapshot>('releaseBallast', { settleMs: 500 });
    await until(() => c.events.some((e) => e.event === 'level' && e.to === 'normal'), 10_000, 'level normal');
    snap = await c.call<Snapshot>('snapshot');
    mark(`ballast released: level ${snap.level} at ${snap.pressure}%`);
    expect(snap.level).toBe('normal');
    expect(snap.service.historySize).toBe(HISTORY);
    expect(await upgradeStatus(c.url)).toBe(101);
    await c.call('publish', { channel: 'volatile.ticks', count: 5, size: 10 });
    await until(() => (volatile.counts.get('volatile.ticks') ?? 0) === 5, 5_000, 'volatile delivery again');
    expect((await health()).body.status).toBe('healthy');
    mark(
      `  history back to ${snap.service.historySize}/channel, connections accepted, volatile delivered, health healthy`,
    );

    const levels = c.events.filter((e) => e.event === 'level').map((e) => `${e.from}->${e.to}`);
    mark(`level changes: ${levels.join(', ')}`);
    expect(levels.slice(-3)).toEqual(['warning->critical', 'critical->emergency', 'emergency->normal']);
    for (const x of [...idle, volatile, ...slow]) x.close();
    await c.stop();
    mark(`child exited with ${JSON.stringify(c.exited)}`);
    console.log(`[memory pressure, --max-old-space-size=96]\n${timeline.join('\n')}`);
    expect(c.exited).toEqual({ code: 0, signal: null });
    expect(c.stderr).not.toMatch(/heap out of memory|FATAL/);
  });
});
