import { describe, expect, it } from 'vitest';
import { MemoryManager, type MemoryReading, ProgressiveDegradation } from '../src/index';

function manager() {
  let percent = 10;
  const m = new MemoryManager({
    heapLimitBytes: 100,
    useGcReadings: false,
    read: (): MemoryReading => ({
      at: Date.now(),
      rss: 0,
      heapUsed: percent,
      heapTotal: percent,
      external: 0,
      arrayBuffers: 0,
      heapLimit: 148,
      oldGenerationUsed: percent,
      oldGenerationLimit: 100,
    }),
  });
  return { m, at: (p: number) => ((percent = p), m.sample()) };
}

describe('ProgressiveDegradation', () => {
  it('applies levels cumulatively on the way up, reverts in reverse order on the way down, repeats while a level holds', () => {
    const { m, at } = manager();
    const calls: string[] = [];
    const step = (name: string, repeat = false) => ({
      description: name,
      apply: () => void calls.push(`apply ${name}`),
      revert: () => void calls.push(`revert ${name}`),
      ...(repeat ? { repeat: () => (calls.push(`repeat ${name}`), `did ${name}`) } : {}),
    });
    const d = new ProgressiveDegradation(m, {
      warning: [step('shrink history'), step('shrink cache')],
      critical: [step('refuse connections')],
      emergency: [step('disconnect heaviest', true)],
    });
    at(88);
    expect(calls).toEqual(['apply shrink history', 'apply shrink cache', 'apply refuse connections']);
    expect(d.active.map((a) => a.description)).toEqual(['shrink history', 'shrink cache', 'refuse connections']);
    calls.length = 0;
    at(97);
    at(97);
    at(96);
    expect(calls).toEqual(['apply disconnect heaviest', 'repeat disconnect heaviest', 'repeat disconnect heaviest']);
    calls.length = 0;
    at(50);
    expect(calls).toEqual([
      'revert disconnect heaviest',
      'revert refuse connections',
      'revert shrink cache',
      'revert shrink history',
    ]);
    expect(d.level).toBe('normal');
    expect(d.active).toEqual([]);
    expect(d.log.map((e) => `${e.action} ${e.level}`)).toContain('repeat emergency');
    expect(d.log.find((e) => e.action === 'repeat')?.detail).toBe('did disconnect heaviest');
  });

  it('logs and reports a step that throws, and still runs the others', () => {
    const { m, at } = manager();
    const ran: string[] = [];
    const errors: string[] = [];
    const d = new ProgressiveDegradation(m, {
      warning: [
        {
          description: 'broken',
          apply: () => {
            throw new Error('boom');
          },
        },
        { description: 'fine', apply: () => void ran.push('fine') },
      ],
    });
    d.on('error', (e) => errors.push(e.message));
    at(75);
    expect(ran).toEqual(['fine']);
    expect(errors).toEqual(['boom']);
    expect(d.log[0]).toMatchObject({ description: 'broken', error: 'boom', action: 'apply' });
    d.detach();
    at(10);
    expect(d.level).toBe('warning'); // detached: no longer follows
  });

  it('rejects a malformed plan', () => {
    const { m } = manager();
    expect(() => new ProgressiveDegradation(m, { severe: [] } as never)).toThrow(/unknown degradation level "severe"/);
    expect(() => new ProgressiveDegradation(m, { warning: [{ description: 'x' }] } as never)).toThrow(/plan.warning/);
  });
});
