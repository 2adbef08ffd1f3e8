import { describe, expect, it } from 'vitest';
import { EventLoopMonitor } from '../src/index';

describe('EventLoopMonitor', () => {
  it('reports zeros until started, then the delay beyond the resolution; stop() releases it', async () => {
    const m = new EventLoopMonitor({ resolutionMs: 10, windowMs: 200 });
    expect(m.lag()).toEqual({ meanMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, samples: 0 });
    m.start().start();
    expect(m.running).toBe(true);
    await new Promise((r) => setTimeout(r, 250));
    const lag = m.lag();
    expect(lag.samples).toBeGreaterThan(0);
    expect(lag.p50Ms).toBeLessThan(50); // an idle loop: a few ms at most beyond the 10 ms timer
    m.stop();
    m.stop();
    expect(m.running).toBe(false);
    expect(m.lag().samples).toBeGreaterThan(0); // the last figures stay readable
  });

  it('refuses bad options', () => {
    expect(() => new EventLoopMonitor({ resolutionMs: 0 })).toThrow(TypeError);
    expect(() => new EventLoopMonitor({ resolutionMs: 100, windowMs: 150 })).toThrow(/twice/);
  });
});
