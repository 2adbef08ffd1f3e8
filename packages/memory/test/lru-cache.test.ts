import { describe, expect, it } from 'vitest';
import { LRUCache } from '../src/lru-cache';

describe('LRUCache', () => {
  it('evicts the least recently used entry past max', () => {
    const evicted: string[] = [];
    const cache = new LRUCache<string, number>({ max: 2, onEvict: (k) => evicted.push(k) });
    cache.set('a', 1).set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now most recent
    cache.set('c', 3);
    expect(cache.has('b')).toBe(false);
    expect(cache.has('a')).toBe(true);
    expect(evicted).toEqual(['b']);
    expect(cache.evictions).toBe(1);
  });

  it('peek does not change recency', () => {
    const cache = new LRUCache<string, number>({ max: 2 });
    cache.set('a', 1).set('b', 2);
    expect(cache.peek('a')).toBe(1);
    cache.set('c', 3);
    expect(cache.has('a')).toBe(false);
  });

  it('expires entries after ttlMs', () => {
    let now = 1000;
    const cache = new LRUCache<string, number>({ max: 10, ttlMs: 100, now: () => now });
    cache.set('a', 1);
    now += 50;
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1);
    now += 60;
    expect(cache.get('a')).toBeUndefined();
    expect(cache.has('b')).toBe(true);
    now += 100;
    expect(cache.prune()).toBe(1);
    expect(cache.size).toBe(0);
  });

  it('shrinks on resize', () => {
    const cache = new LRUCache<number, number>({ max: 10 });
    for (let i = 0; i < 10; i++) cache.set(i, i);
    expect(cache.resize(3)).toBe(7);
    expect([...cache.keys()]).toEqual([7, 8, 9]);
  });

  it('rejects bad options with a TypeError', () => {
    expect(() => new LRUCache({ max: 0 })).toThrow(TypeError);
    expect(() => new LRUCache({ max: 1, ttlMs: -1 })).toThrow(/ttlMs/);
  });
});
