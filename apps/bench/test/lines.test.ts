import { describe, expect, it } from 'vitest';
import { countMessages, forEachPayload, payloadOf } from '../src/clients/lines.mjs';

const msg = (seq: number) => JSON.stringify({ type: 'message', channel: 'bench', event: 'tick', data: { seq, t: 1000 + seq, p: 'x' }, id: 'a', offset: seq, ts: 1 });

describe('newline-batched frames', () => {
  it('counts one message per line that carries the payload, ignoring control lines', () => {
    const frame = Buffer.from([JSON.stringify({ type: 'welcome', connectionId: 'c' }), msg(1), '{"type":"ping"}', msg(2), msg(3)].join('\n'));
    expect(countMessages(frame)).toBe(3);
    expect(countMessages(Buffer.from(msg(7)))).toBe(1);
    expect(countMessages(Buffer.from('{"type":"ack","ref":1}'))).toBe(0);
    expect(countMessages(Buffer.from(`${msg(1)}\n`))).toBe(1);
  });

  it('parses every payload of a frame', () => {
    const seen: number[] = [];
    forEachPayload([msg(1), '{"type":"ping"}', msg(2)].join('\n'), (p) => seen.push(p.seq));
    expect(seen).toEqual([1, 2]);
  });

  it('finds the payload in a bare Socket.IO argument or in an envelope', () => {
    expect(payloadOf({ seq: 1, t: 2, p: '' })).toEqual({ seq: 1, t: 2, p: '' });
    expect(payloadOf({ channel: 'bench', data: { seq: 1, t: 2 } })).toEqual({ seq: 1, t: 2 });
    expect(payloadOf({ channel: 'bench' })).toBeUndefined();
    expect(payloadOf(null)).toBeUndefined();
  });
});
