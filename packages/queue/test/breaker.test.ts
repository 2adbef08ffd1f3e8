import { isUnisocketError } from '@unisocket/core';
import { describe, expect, it } from 'vitest';
import { Breaker, BreakerRegistry, type BreakerStateChange, DEFAULT_BREAKER_OPTIONS } from '../src/index';

const fail = () => Promise.reject(new Error('down'));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Breaker', () => {
  it('defaults to 5 consecutive failures and 10 s', () => {
    expect(DEFAULT_BREAKER_OPTIONS).toEqual({ failureThreshold: 5, halfOpenAfterMs: 10_000 });
    expect(new Breaker('x').options).toEqual(DEFAULT_BREAKER_OPTIONS);
    expect(() => new Breaker('x', { failureThreshold: 0 })).toThrow(/failureThreshold must be an integer from 1/);
    expect(() => new Breaker('')).toThrow(TypeError);
  });

  it('closed → open after N consecutive failures → half-open after the delay → closed on success', async () => {
    const changes: BreakerStateChange[] = [];
    const breaker = new Breaker('svc', { failureThreshold: 3, halfOpenAfterMs: 200 }, (c) => changes.push(c));
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    await expect(breaker.execute(() => 'ok')).resolves.toBe('ok'); // a success resets the count
    for (let i = 0; i < 2; i++) await expect(breaker.execute(fail)).rejects.toThrow('down');
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    expect(breaker.state).toBe('open');
    const openedAt = changes[0]!.at;

    // open: refused at once, without calling fn
    let called = 0;
    const t0 = performance.now();
    const refused = await breaker.execute(() => called++).catch((e: unknown) => e);
    const refusedInMs = performance.now() - t0;
    expect(called).toBe(0);
    expect(refusedInMs).toBeLessThan(50); // no call made; the bound only catches a wait (a loaded machine measured 32 ms)
    expect(isUnisocketError(refused) && refused.code).toBe('UNAVAILABLE');
    expect((refused as Error).message).toMatch(/^circuit breaker svc is open; next trial in \d+ ms$/);
    expect(breaker.snapshot()).toMatchObject({ state: 'open', failures: 4, successes: 1, rejected: 1 });
    expect(breaker.snapshot().nextTrialAt).toBe(openedAt + 200);

    await sleep(220);
    // the trial: half-open while it runs, closed when it succeeds
    let stateDuringTrial: string | undefined;
    await breaker.execute(async () => {
      await sleep(20);
      stateDuringTrial = breaker.state;
      return 'ok';
    });
    expect(stateDuringTrial).toBe('half-open');
    expect(breaker.state).toBe('closed');
    expect(changes.map((c) => `${c.from}→${c.to}`)).toEqual(['closed→open', 'open→half-open', 'half-open→closed']);
    expect(changes.every((c) => c.name === 'svc' && typeof c.at === 'number')).toBe(true);
    expect(changes[1]!.at - changes[0]!.at).toBeGreaterThanOrEqual(200);
  });

  it('a failed trial opens it again for another delay', async () => {
    const breaker = new Breaker('svc', { failureThreshold: 1, halfOpenAfterMs: 100 });
    await breaker.execute(fail).catch(() => {});
    await sleep(120);
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    expect(breaker.state).toBe('open');
    await expect(breaker.execute(() => 1)).rejects.toThrow(/is open; next trial in (9\d|100) ms/);
  });

  it('isolate() holds it open until disposed', async () => {
    const breaker = new Breaker('svc');
    const handle = breaker.isolate();
    expect(breaker.state).toBe('isolated');
    await expect(breaker.execute(() => 1)).rejects.toThrow(/is isolated/);
    handle.dispose();
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(() => 1)).resolves.toBe(1);
  });
});

describe('BreakerRegistry', () => {
  it('keeps breakers by name, lists them and emits every transition', async () => {
    const registry = new BreakerRegistry({ defaults: { failureThreshold: 2, halfOpenAfterMs: 50 } });
    const events: BreakerStateChange[] = [];
    registry.on('circuit-breaker-state-changed', (c) => events.push(c));
    const a = registry.get('queue:a');
    expect(registry.get('queue:a')).toBe(a);
    expect(a.options).toEqual({ failureThreshold: 2, halfOpenAfterMs: 50 });
    const b = registry.get('webhook:b', { failureThreshold: 1 });
    expect(b.options.failureThreshold).toBe(1);
    await b.execute(fail).catch(() => {});
    expect(events).toEqual([{ name: 'webhook:b', from: 'closed', to: 'open', at: expect.any(Number) }]);
    expect(registry.list().map((s) => [s.name, s.state])).toEqual([
      ['queue:a', 'closed'],
      ['webhook:b', 'open'],
    ]);
    expect(registry.delete('webhook:b')).toBe(true);
    expect(registry.delete('webhook:b')).toBe(false);
    await sleep(60);
    await b.execute(() => 1); // a deleted breaker's transitions are no longer emitted
    expect(events).toHaveLength(1);
  });

  it('is bounded', () => {
    const registry = new BreakerRegistry({ maxBreakers: 2 });
    registry.get('a');
    registry.get('b');
    expect(registry.get('a')).toBeDefined();
    expect(() => registry.get('c')).toThrow(/holds 2 breakers already/);
  });

  it('a throwing listener does not break the call', async () => {
    const registry = new BreakerRegistry({ defaults: { failureThreshold: 1 } });
    const errors: Error[] = [];
    registry.on('error', (e) => errors.push(e));
    registry.on('circuit-breaker-state-changed', () => {
      throw new Error('listener bug');
    });
    await expect(registry.get('x').execute(fail)).rejects.toThrow('down');
    expect(errors.map((e) => e.message)).toEqual(['listener bug']);
  });
});
