import { describe, expect, it } from 'vitest';
import { batchCommands, parseFrames } from '../src/index';
import { utf8Length } from '../src/frames';

const cmd = (json: string) => ({ command: JSON.parse(json), json, bytes: Buffer.byteLength(json) });

describe('parseFrames', () => {
  it('splits a batched server message on \\n, in order', () => {
    const { frames, errors } = parseFrames(
      '{"type":"message","offset":1}\n{"type":"message","offset":2}\n{"type":"ping"}',
    );
    expect(frames.map((f) => f.type)).toEqual(['message', 'message', 'ping']);
    expect(frames.map((f) => (f as { offset?: number }).offset)).toEqual([1, 2, undefined]);
    expect(errors).toEqual([]);
  });

  it('skips blank lines and reports unreadable ones without losing the others', () => {
    const { frames, errors } = parseFrames(
      '\n{"type":"ack","ref":1}\n\n  \nnot json\n[1,2]\n{"no":"type"}\n{"type":"pong"}\n',
    );
    expect(frames.map((f) => f.type)).toEqual(['ack', 'pong']);
    expect(errors).toHaveLength(3);
    expect(errors[0]!.message).toMatch(/not JSON/);
  });

  it('handles a single frame without a newline', () => {
    expect(parseFrames('{"type":"welcome"}').frames).toEqual([{ type: 'welcome' }]);
  });
});

describe('batchCommands', () => {
  it('keeps order and caps the commands per frame', () => {
    const commands = Array.from({ length: 7 }, (_, i) => cmd(`{"type":"ping","ref":${i}}`));
    const frames = batchCommands(commands, 65_536, 3);
    expect(frames).toHaveLength(3);
    expect(frames.flatMap((f) => f.split('\n').map((l) => JSON.parse(l).ref))).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('keeps frames within maxBytes (newlines included)', () => {
    const commands = Array.from({ length: 10 }, (_, i) =>
      cmd(JSON.stringify({ type: 'publish', ref: i, data: 'x'.repeat(40) })),
    );
    const size = commands[0]!.bytes;
    const frames = batchCommands(commands, size * 3 + 2, 100);
    for (const f of frames) expect(Buffer.byteLength(f)).toBeLessThanOrEqual(size * 3 + 2);
    expect(frames.map((f) => f.split('\n').length)).toEqual([3, 3, 3, 1]);
  });

  it('sends an oversized command alone rather than dropping it', () => {
    const frames = batchCommands(
      [
        cmd('{"type":"ping","ref":1}'),
        cmd(JSON.stringify({ type: 'x', d: 'y'.repeat(100) })),
        cmd('{"type":"ping","ref":2}'),
      ],
      50,
      10,
    );
    expect(frames).toHaveLength(3);
  });
});

describe('utf8Length', () => {
  it('matches Buffer.byteLength, surrogate pairs and lone surrogates included', () => {
    for (const s of ['', 'abc', 'é', '€uro', '😀 smile', 'a\uD800b', '\uDC00', 'x'.repeat(1000) + 'ü'.repeat(10)]) {
      expect(utf8Length(s)).toBe(Buffer.byteLength(s));
    }
  });
});
