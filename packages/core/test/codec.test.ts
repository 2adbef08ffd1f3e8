import { describe, expect, it } from 'vitest';
import { UnisocketError, decodeFrame, validateCommand } from '../src/index';

const limits = { maxPayloadBytes: 1000, maxDepth: 4, maxCommandsPerFrame: 3 };

describe('decodeFrame', () => {
  it('decodes every command type into fresh validated objects', () => {
    const [sub] = decodeFrame(
      '{"type":"subscribe","channel":"news","ref":1,"since":{"epoch":"e","offset":4},"extra":1}',
    );
    expect(sub).toEqual({ type: 'subscribe', channel: 'news', ref: 1, since: { epoch: 'e', offset: 4 } });
    expect(decodeFrame('{"type":"publish","channel":"a","event":"say","ref":"r"}')[0]).toEqual({
      type: 'publish',
      channel: 'a',
      event: 'say',
      data: null,
      ref: 'r',
    });
    expect(decodeFrame('{"type":"auth","token":"t"}')[0]).toEqual({ type: 'auth', token: 't' });
    expect(decodeFrame('{"type":"presence","channel":"presence-x"}')[0]).toEqual({
      type: 'presence',
      channel: 'presence-x',
    });
    expect(decodeFrame('{"type":"unsubscribe","channel":"x"}')[0]).toEqual({ type: 'unsubscribe', channel: 'x' });
    expect(decodeFrame('{"type":"pong"}')[0]).toEqual({ type: 'pong' });
  });

  it('splits \\n-batched frames and bounds their count', () => {
    const out = decodeFrame('{"type":"ping"}\n{"type":"ping"}\n\n{"type":"ping"}\n{"type":"ping"}', limits);
    expect(out).toHaveLength(4);
    expect((out[3] as UnisocketError).code).toBe('LIMIT_EXCEEDED');
  });

  it('bounds size and depth', () => {
    expect((decodeFrame('x'.repeat(1001), limits)[0] as UnisocketError).closeCode).toBe(1009);
    expect((decodeFrame('"é"'.repeat(400), limits)[0] as UnisocketError).code).toBe('PAYLOAD_TOO_LARGE');
    const deep = JSON.stringify({ type: 'publish', channel: 'a', event: 'e', data: [[[[[1]]]]] });
    expect((decodeFrame(deep, limits)[0] as UnisocketError).code).toBe('PAYLOAD_TOO_LARGE');
    const nested = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(decodeFrame(nested)[0]).toBeInstanceOf(UnisocketError);
  });

  it('cannot be polluted through __proto__ or constructor keys', () => {
    const [cmd] = decodeFrame(
      '{"type":"subscribe","channel":"a","__proto__":{"channel":"evil","polluted":true},"constructor":{"prototype":{"x":1}}}',
    );
    expect(cmd).toEqual({ type: 'subscribe', channel: 'a' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const [viaProto] = decodeFrame('{"__proto__":{"type":"ping"}}');
    expect(viaProto).toBeInstanceOf(UnisocketError);
  });

  it('rejects wrong types with messages that say what to send', () => {
    const cases: [unknown, RegExp][] = [
      [{ type: 'subscribe', channel: 1 }, /channel/],
      [{ type: 'subscribe', channel: 'a', since: { epoch: 'e', offset: -1 } }, /since/],
      [{ type: 'subscribe', channel: 'a', since: { epoch: 'e', offset: 1.5 } }, /since/],
      [{ type: 'publish', channel: 'a', event: '' }, /event/],
      [{ type: 'publish', channel: 'a', event: 'e', id: 'has space' }, /id/],
      [{ type: 'auth', token: 5 }, /token/],
      [{ type: 5 }, /type/],
      [{ type: 'ping', ref: 2 ** 60 }, /ref/],
      ['string', /object/],
      [null, /object/],
    ];
    for (const [input, pattern] of cases) {
      const result = validateCommand(input);
      expect(result).toBeInstanceOf(UnisocketError);
      expect((result as UnisocketError).message).toMatch(pattern);
    }
  });
});
