import { describe, expect, it } from 'vitest';
import { PriorityQueue } from '../src/priority-queue';

describe('PriorityQueue', () => {
  it('pops in priority order', () => {
    const q = new PriorityQueue<number>();
    for (const n of [5, 1, 4, 2, 3, 0, 9]) q.push(n);
    const out: number[] = [];
    while (q.size > 0) out.push(q.pop()!);
    expect(out).toEqual([0, 1, 2, 3, 4, 5, 9]);
    expect(q.pop()).toBeUndefined();
  });

  it('orders with a custom comparator', () => {
    const q = new PriorityQueue<{ p: number; name: string }>({ compare: (a, b) => b.p - a.p });
    q.push({ p: 1, name: 'low' });
    q.push({ p: 10, name: 'high' });
    q.push({ p: 5, name: 'mid' });
    expect(q.peek()?.name).toBe('high');
    expect(q.toArray().map((x) => x.name)).toEqual(['high', 'mid', 'low']);
  });

  it('stays within maxSize by dropping the lowest priority item', () => {
    const q = new PriorityQueue<number>({ maxSize: 3 });
    q.push(5);
    q.push(1);
    q.push(3);
    expect(q.push(9)).toBe(9); // worse than all kept: refused
    expect(q.push(0)).toBe(5); // better: evicts the worst
    expect(q.size).toBe(3);
    expect(q.dropped).toBe(2);
    expect([q.pop(), q.pop(), q.pop()]).toEqual([0, 1, 3]);
  });

  it('keeps heap order under random pushes and pops', () => {
    const q = new PriorityQueue<number>({ maxSize: 50 });
    const kept: number[] = [];
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      const n = Math.floor(rnd() * 1000);
      if (rnd() < 0.3 && q.size > 0) {
        kept.sort((a, b) => a - b);
        expect(q.pop()).toBe(kept.shift());
      } else {
        const dropped = q.push(n);
        kept.push(n);
        if (dropped !== undefined) kept.splice(kept.lastIndexOf(dropped), 1);
      }
      expect(q.size).toBeLessThanOrEqual(50);
    }
  });

  it('rejects a bad maxSize', () => {
    expect(() => new PriorityQueue({ maxSize: 0 })).toThrow(TypeError);
  });
});
