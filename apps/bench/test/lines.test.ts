import { describe, expect, it } from 'vitest';
import { countMessages, forEachSendTime, payloadOf } from '../src/clients/lines.mjs';

const msg = (seq: number) =>
  JSON.stringify({
    type: 'message',
    channel: 'bench',
    event: 'tick',
    data: { seq, t: 1000 + seq, p: 'x' },
    id: 'a',
    offset: seq,
    ts: 1,
  });

describe('newline-batched frames', () => {
  it('counts one message per line that carries the payload, ignoring control lines', () => {
    const frame = Buffer.from(
      [JSON.stringify({ type: 'welcome', connectionId: 'c' }), msg(1), '{"type":"ping"}', msg(2), msg(3)].join('\n'),
    );
    expect(countMessages(frame)).toBe(3);
    expect(countMessages(Buffer.from(msg(7)))).toBe(1);
    expect(countMessages(Buffer.from('{"type":"ack","ref":1}'))).toBe(0);
    expect(countMessages(Buffer.from(`${msg(1)}\n`))).toBe(1);
  });

  it('reads the send time of every message of a frame without parsing it, skipping control lines', () => {
    const seen: number[] = [];
    const frame = [JSON.stringify({ type: 'welcome', connectionId: 'c' }), msg(1), '{"type":"ping"}', msg(2)].join(
      '\n',
    );
    expect(forEachSendTime(Buffer.from(frame), (t) => seen.push(t))).toBe(2);
    expect(seen).toEqual([1001, 1002]);
    const precise = JSON.stringify({ type: 'message', data: { seq: 1, t: 1763800000000.123, p: 'x' }, ts: 5 });
    forEachSendTime(Buffer.from(`${precise}\n`), (t) => seen.push(t));
    expect(seen.at(-1)).toBe(1763800000000.123);
  });

  it('finds the payload in a bare Socket.IO argument or in an envelope', () => {
    expect(payloadOf({ seq: 1, t: 2, p: '' })).toEqual({ seq: 1, t: 2, p: '' });
    expect(payloadOf({ channel: 'bench', data: { seq: 1, t: 2 } })).toEqual({ seq: 1, t: 2 });
    expect(payloadOf({ channel: 'bench' })).toBeUndefined();
    expect(payloadOf(null)).toBeUndefined();
  });
});
