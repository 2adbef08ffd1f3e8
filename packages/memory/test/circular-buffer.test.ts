import { describe, expect, it } from 'vitest';
import { CircularBuffer } from '../src/circular-buffer';

describe('CircularBuffer', () => {
  it('keeps the newest items and returns what it evicts', () => {
    const buf = new CircularBuffer<number>(3);
    expect(buf.push(1)).toBeUndefined();
    buf.push(2);
    buf.push(3);
    expect(buf.isFull).toBe(true);
    expect(buf.push(4)).toBe(1);
    expect(buf.toArray()).toEqual([2, 3, 4]);
    expect(buf.first()).toBe(2);
    expect(buf.last()).toBe(4);
    expect(buf.size).toBe(3);
  });

  it('shifts, pops and indexes from both ends', () => {
    const buf = new CircularBuffer<string>(4);
    for (const s of ['a', 'b', 'c', 'd', 'e']) buf.push(s);
    expect(buf.at(0)).toBe('b');
    expect(buf.at(-1)).toBe('e');
    expect(buf.at(4)).toBeUndefined();
    expect(buf.shift()).toBe('b');
    expect(buf.pop()).toBe('e');
    expect([...buf]).toEqual(['c', 'd']);
    buf.clear();
    expect(buf.size).toBe(0);
    expect(buf.shift()).toBeUndefined();
    expect(buf.pop()).toBeUndefined();
  });

  it('drops the oldest items matching a predicate', () => {
    const buf = new CircularBuffer<number>(5);
    for (let i = 1; i <= 5; i++) buf.push(i);
    expect(buf.dropWhile((n) => n < 3)).toBe(2);
    expect(buf.toArray()).toEqual([3, 4, 5]);
  });

  it('resizes keeping the newest items', () => {
    const buf = new CircularBuffer<number>(5);
    for (let i = 1; i <= 7; i++) buf.push(i);
    expect(buf.resize(2)).toBe(3);
    expect(buf.toArray()).toEqual([6, 7]);
    expect(buf.capacity).toBe(2);
    buf.resize(4);
    buf.push(8);
    expect(buf.toArray()).toEqual([6, 7, 8]);
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new CircularBuffer(0)).toThrow(TypeError);
    expect(() => new CircularBuffer(1.5)).toThrow(/positive integer/);
  });
});
