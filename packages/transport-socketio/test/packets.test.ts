import { PreparedBatch } from '@unisocket/core';
import { Decoder } from 'socket.io-parser';
import { describe, expect, it } from 'vitest';
import { SocketIoBatch, packetPrefix, socketIoBatch } from '../src/index';

/** Splits a buffer of consecutive unmasked server WebSocket frames into their text payloads. */
function readFrames(buf: Buffer): string[] {
  const out: string[] = [];
  let o = 0;
  while (o < buf.length) {
    expect(buf[o]).toBe(0x81); // FIN + text
    let len = buf[o + 1]!;
    o += 2;
    if (len === 126) {
      len = buf.readUInt16BE(o);
      o += 2;
    } else if (len === 127) {
      len = buf.readUInt32BE(o) * 2 ** 32 + buf.readUInt32BE(o + 4);
      o += 8;
    }
    out.push(buf.subarray(o, o + len).toString('utf8'));
    o += len;
  }
  return out;
}

/** Decodes engine.io message payloads (without the leading `4`) as socket.io-client does. */
function decode(packets: string[]): { type: number; data: unknown[] }[] {
  const decoder = new Decoder();
  const out: { type: number; data: unknown[] }[] = [];
  decoder.on('decoded', (p: { type: number; data?: unknown[] }) => void out.push({ type: p.type, data: p.data ?? [] }));
  for (const p of packets) decoder.add(p);
  return out;
}

const line = (offset: number, data: unknown): string =>
  `{"type":"message","channel":"news","event":"n","data":${JSON.stringify(data)},"id":"a-${offset}","ts":1,"offset":${offset}}`;

describe('SocketIoBatch', () => {
  it('encodes each line as the EVENT packet socket.emit(type, frame) would send, without parsing it', () => {
    const lines = [
      line(1, { text: 'héllo ✓' }),
      '{"type":"presence","channel":"presence-x","action":"join","member":{"userId":"u"}}',
      '{"type":"resync","channel":"news","epoch":"e2","offset":0}',
    ];
    const encoded = new SocketIoBatch(lines);
    expect(encoded.packets).toEqual(lines.map((l) => `2["${(JSON.parse(l) as { type: string }).type}",${l}]`));
    const decoded = decode(encoded.packets);
    expect(decoded.map((p) => p.data)).toEqual(
      lines.map((l) => [(JSON.parse(l) as { type: string }).type, JSON.parse(l)]),
    );
  });

  it('puts the whole batch in one buffer of WebSocket frames, one frame per message, of every header size', () => {
    const lines = [line(1, 'x'), line(2, 'y'.repeat(200)), line(3, 'z'.repeat(70_000)), line(4, '✓'.repeat(50))];
    const encoded = new SocketIoBatch(lines);
    const frames = encoded.frames;
    expect(frames).toHaveLength(1);
    const payloads = readFrames(frames[0]!);
    expect(payloads).toEqual(lines.map((l) => `42["message",${l}]`));
    expect(encoded.bytes).toBe(frames[0]!.length);
    expect(encoded.engineOptions.wsPreEncodedFrame).toBe(frames);
    // built once
    expect(encoded.frames).toBe(frames);
    expect(encoded.packets).toBe(encoded.packets);
  });

  it('is cached on the PreparedBatch: one encoding per batch, whatever the number of subscribers', () => {
    const batch = new PreparedBatch('news', [line(1, 1), line(2, 2)]);
    const a = socketIoBatch(batch);
    expect(socketIoBatch(batch)).toBe(a);
    expect(batch.encoded.socketio).toBe(a);
  });

  it('reads the event name from the line prefix, and falls back to parsing only for unusual lines', () => {
    expect(packetPrefix(line(1, 1))).toBe('2["message",');
    expect(packetPrefix('{"type":"refresh","expiresAt":1,"graceMs":2}')).toBe('2["refresh",');
    expect(packetPrefix('{ "type" : "presence" }')).toBe('2["presence",');
    expect(packetPrefix('{"type":"__proto__"}')).toBe('2["__proto__",');
    expect(packetPrefix('{"type":"a\\"b"}')).toBe('2["message",');
    expect(packetPrefix('not json')).toBe('2["message",');
    expect(packetPrefix('null')).toBe('2["message",');
  });
});
