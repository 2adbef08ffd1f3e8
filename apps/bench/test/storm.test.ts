import { describe, expect, it } from 'vitest';
import { StormCounter, readMessageLine } from '../src/clients/storm.mjs';
import { perSecond, percentileOf } from '../src/workloads/w6.mjs';

describe('W6 counting', () => {
  it('reads offset, seq and t of a message line without JSON.parse, and nothing from other lines', () => {
    const line =
      '{"type":"message","channel":"bench.7","event":"tick","data":{"seq":4711,"t":1796628000123.456,"p":"xxxx"},"id":"a1b2","ts":1796628000124,"offset":4712}';
    const parsed = JSON.parse(line);
    expect(readMessageLine(line)).toEqual({ offset: parsed.offset, seq: parsed.data.seq, t: parsed.data.t });
    expect(readMessageLine('{"type":"ack","ref":1,"channel":"bench.7","epoch":"e","offset":3}')).toBeUndefined();
    expect(readMessageLine('{"type":"ping"}')).toBeUndefined();
  });

  it('counts lost and duplicated messages by seq from the first one received', () => {
    const c = new StormCounter('bench.0');
    for (const seq of [5, 6, 7, 7, 9, 10]) c.onMessage(seq, 0);
    expect(c.duplicates).toBe(1);
    expect(c.gapped).toBe(true);
    expect(c.lost(12)).toBe(3); // 8, 11, 12
  });

  it('is recovered at the first gap-free message published after it reconnected', () => {
    const c = new StormCounter('bench.0');
    c.onMessage(1, 100);
    c.onMessage(2, 200);
    c.reconnectedAt = 1000;
    c.onMessage(3, 300); // replayed: published before the reconnect
    expect(c.recoveredAt).toBe(0);
    c.onMessage(4, 1500);
    expect(c.recoveredAt).toBeGreaterThan(0);
    expect(c.lost(4)).toBe(0);
  });

  it('a client with a gap never counts as recovered', () => {
    const c = new StormCounter('bench.0');
    c.onMessage(1, 100);
    c.reconnectedAt = 1000;
    c.onMessage(3, 1500);
    expect(c.recoveredAt).toBe(0);
  });

  it('percentiles treat "never" (-1) as infinitely late', () => {
    expect(percentileOf([10, 20, 30, 40], 100)).toBe(40);
    expect(percentileOf([10, 20, 30, -1], 50)).toBe(20);
    expect(Number.isNaN(percentileOf([10, 20, 30, -1], 100))).toBe(true);
    expect(Number.isNaN(percentileOf([], 99))).toBe(true);
  });

  it('counts recovery times per second after the kill', () => {
    expect(perSecond([100, 900, 1000, 3500, -1])).toEqual({ buckets: [2, 1, 0, 1], never: 1 });
  });
});
