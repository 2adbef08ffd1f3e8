import { describe, expect, it } from 'vitest';
import { isPusherMessage, isPusherPing, pusherSendTime, parsePusherEvent } from '../src/clients/pusher.mjs';

// what the unisocket Pusher transport sends for a bench publish: data is the payload as a JSON string
const frame = (seq: number, t: number) =>
  Buffer.from(JSON.stringify({ event: 'tick', channel: 'bench', data: JSON.stringify({ seq, t, p: 'xxxxxxxxxx' }) }));

describe('Pusher frames', () => {
  it('tells bench messages from protocol events', () => {
    expect(isPusherMessage(frame(1, 1000))).toBe(true);
    const established = JSON.stringify({
      event: 'pusher:connection_established',
      data: JSON.stringify({ socket_id: '1.2', activity_timeout: 120 }),
    });
    expect(isPusherMessage(Buffer.from(established))).toBe(false);
    const ok = JSON.stringify({ event: 'pusher_internal:subscription_succeeded', channel: 'bench', data: '{}' });
    expect(isPusherMessage(Buffer.from(ok))).toBe(false);
    expect(isPusherPing(Buffer.from('{"event":"pusher:ping","data":{}}'))).toBe(true);
    expect(isPusherPing(frame(1, 2))).toBe(false);
  });

  it('reads the send time inside the data string without parsing', () => {
    expect(pusherSendTime(frame(7, 1763800000000.123))).toBe(1763800000000.123);
    expect(pusherSendTime(frame(0, 5))).toBe(5);
    expect(pusherSendTime(Buffer.from('{"event":"pusher:ping","data":{}}'))).toBeNaN();
  });

  it('parses handshake events', () => {
    expect(parsePusherEvent(Buffer.from('{"event":"pusher:error","data":{"code":4001}}'))?.event).toBe('pusher:error');
    expect(parsePusherEvent(Buffer.from('not json'))).toBeUndefined();
  });
});
