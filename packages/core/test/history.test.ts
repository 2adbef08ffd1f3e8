import { describe, expect, it } from 'vitest';
import { MemoryHistoryStore, messageHead, type PublishRequest } from '../src/index';

const req = (channel: string, id: string, ts = Date.now()): PublishRequest => ({
  channel,
  id,
  ts,
  idempotent: false,
  head: messageHead(channel, 'e', JSON.stringify(id), id, ts),
});

describe('MemoryHistoryStore', () => {
  it('assigns contiguous offsets per channel in a stable epoch and builds complete lines', () => {
    const h = new MemoryHistoryStore();
    const a1 = h.append(req('a', 'x'));
    const a2 = h.append(req('a', 'y'));
    const b1 = h.append(req('b', 'z'));
    expect([a1.offset, a2.offset, b1.offset]).toEqual([1, 2, 1]);
    expect(a1.epoch).toBe(a2.epoch);
    expect(JSON.parse(a2.line)).toMatchObject({ type: 'message', channel: 'a', id: 'y', offset: 2, data: 'y' });
    expect(h.position('a')).toEqual({ epoch: a1.epoch, offset: 2 });
  });

  it('reads what follows a position and says whether it is complete', () => {
    const h = new MemoryHistoryStore({ size: 3 });
    const epoch = h.position('a').epoch;
    for (let i = 0; i < 5; i++) h.append(req('a', `m${i}`));
    expect(h.read('a', { epoch, offset: 2 }).messages.map((m) => m.offset)).toEqual([3, 4, 5]);
    expect(h.read('a', { epoch, offset: 2 }).complete).toBe(true);
    expect(h.read('a', { epoch, offset: 1 })).toMatchObject({ complete: false });
    expect(h.read('a', { epoch, offset: 1 }).messages.map((m) => m.offset)).toEqual([3, 4, 5]);
    expect(h.read('a', { epoch, offset: 5 })).toMatchObject({ complete: true, messages: [] });
    expect(h.read('a', { epoch, offset: 6 }).complete).toBe(false);
    expect(h.read('a', { epoch: 'other', offset: 4 }).complete).toBe(false);
  });

  it('expires messages after ttlMs', () => {
    let now = 1_000_000;
    const h = new MemoryHistoryStore({ ttlMs: 1000 }, () => now);
    const epoch = h.position('a').epoch;
    h.append(req('a', 'old', now));
    now += 600;
    h.append(req('a', 'new', now));
    now += 600;
    expect(h.read('a', { epoch, offset: 0 }).complete).toBe(false);
    expect(h.read('a', { epoch, offset: 1 }).messages.map((m) => m.id)).toEqual(['new']);
  });

  it('records externally assigned sparse offsets and covers from the start offset', () => {
    const h = new MemoryHistoryStore();
    const mk = (offset: number) => ({
      channel: 'k',
      id: `i${offset}`,
      epoch: 'p0',
      offset,
      ts: Date.now(),
      line: '{}',
    });
    h.record(mk(10), 5);
    h.record(mk(14));
    h.record(mk(12)); // older than the top: ignored
    expect(h.read('k', { epoch: 'p0', offset: 4 }).messages.map((m) => m.offset)).toEqual([10, 14]);
    expect(h.read('k', { epoch: 'p0', offset: 3 }).complete).toBe(false);
  });

  it('bounds the number of channels, changing the epoch of an evicted one', () => {
    const h = new MemoryHistoryStore({ maxChannels: 2 });
    const e = h.position('a').epoch;
    h.append(req('a', '1'));
    h.append(req('b', '1'));
    h.append(req('c', '1'));
    expect(h.channelCount).toBe(2);
    expect(h.position('a').epoch).not.toBe(e);
  });

  it('shrinks under memory pressure and grows back without losing track of what is complete', () => {
    const h = new MemoryHistoryStore({ size: 10 });
    const epoch = h.position('a').epoch;
    for (let i = 0; i < 10; i++) h.append(req('a', `m${i}`));
    expect(h.shrink(4)).toBe(6);
    expect(h.size).toBe(4);
    expect(h.messageCount).toBe(4);
    expect(h.read('a', { epoch, offset: 5 })).toMatchObject({ complete: false });
    expect(h.read('a', { epoch, offset: 6 }).complete).toBe(true);
    // a channel created while shrunk gets a small ring; restoring the size must let it hold 10 again
    const bEpoch = h.position('b').epoch;
    for (let i = 0; i < 4; i++) h.append(req('b', `b${i}`));
    expect(h.resize(10)).toBe(0);
    for (let i = 4; i < 14; i++) h.append(req('b', `b${i}`));
    const read = h.read('b', { epoch: bEpoch, offset: 4 });
    expect(read.complete).toBe(true);
    expect(read.messages.map((m) => m.offset)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(h.read('b', { epoch: bEpoch, offset: 3 }).complete).toBe(false);
    expect(h.resize(0)).toBe(14);
    expect(h.messageCount).toBe(0);
    expect(() => h.resize(-1)).toThrow(TypeError);
  });

  it('peeks at a recorded channel without creating one, and reports channels dropped by maxChannels', () => {
    const dropped: [string, number][] = [];
    const h = new MemoryHistoryStore({ maxChannels: 2 }, Date.now, {
      onDrop: (channel, c) => dropped.push([channel, c.top]),
    });
    const mk = (channel: string, offset: number) => ({
      channel,
      id: `${channel}${offset}`,
      epoch: 'p0',
      offset,
      ts: Date.now(),
      line: '{}',
    });
    expect(h.peek('a')).toBeUndefined();
    expect(h.channelCount).toBe(0);
    h.record(mk('a', 7), 3);
    expect(h.peek('a')).toEqual({ epoch: 'p0', top: 7, completeFrom: 3 });
    h.record(mk('b', 8), 3);
    h.record(mk('a', 9));
    h.record(mk('c', 11), 3); // drops b, the least recently written
    expect(dropped).toEqual([['b', 8]]);
    expect(h.peek('b')).toBeUndefined();
    expect(h.peek('a')).toMatchObject({ top: 9 });
  });
});
