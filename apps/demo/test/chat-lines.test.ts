import { describe, expect, it } from 'vitest';
import {
  addPending,
  deliver,
  emptyChat,
  groupsByEpoch,
  MAX_LINES,
  refuse,
  retry,
  withEpoch,
} from '../web/src/chat-lines';

const line = (id: string, epoch: string, offset: number) => ({ id, epoch, offset, name: 'n', text: id });

describe("the page's chat lines", () => {
  it('orders by (epoch, offset), epochs in the order met: a restart never interleaves old and new offsets', () => {
    let state = deliver(emptyChat, line('a2', 'A', 2));
    state = deliver(state, line('a1', 'A', 1));
    state = withEpoch(state, 'B');
    state = deliver(state, line('b1', 'B', 1));
    // a late line of the old epoch still goes above the divider
    state = deliver(state, line('a3', 'A', 3));
    expect(state.delivered.map((d) => d.id)).toEqual(['a1', 'a2', 'a3', 'b1']);
    expect(groupsByEpoch(state).map((g) => [g.epoch, g.lines.length])).toEqual([
      ['A', 3],
      ['B', 1],
    ]);
    // a repeat is ignored
    expect(deliver(state, line('b1', 'B', 1)).delivered).toHaveLength(4);
  });

  it('a pending line stays until delivered; refused, it keeps the reason until retried', () => {
    let state = addPending(emptyChat, { id: 'p', name: 'n', text: 'hi' });
    state = refuse(state, 'p', 'rate limited');
    expect(state.pending).toEqual([{ id: 'p', name: 'n', text: 'hi', error: 'rate limited' }]);
    state = retry(state, 'p');
    expect(state.pending).toEqual([{ id: 'p', name: 'n', text: 'hi' }]);
    state = deliver(state, line('p', 'A', 7));
    expect(state.pending).toEqual([]);
    expect(state.delivered.map((d) => [d.id, d.offset])).toEqual([['p', 7]]);
  });

  it(`keeps the newest ${MAX_LINES} delivered lines`, () => {
    let state = emptyChat;
    for (let i = 1; i <= MAX_LINES + 5; i++) state = deliver(state, line(`m${i}`, 'A', i));
    expect(state.delivered).toHaveLength(MAX_LINES);
    expect(state.delivered[0]?.offset).toBe(6);
  });
});
