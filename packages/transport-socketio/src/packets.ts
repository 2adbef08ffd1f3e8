import type { PreparedBatch } from '@unisocket/core';

/**
 * The Socket.IO encoding of one {@link PreparedBatch}, built once per batch (cached in `batch.encoded.socketio`) and
 * shared by every Socket.IO subscriber.
 *
 * Each line of the batch is a complete frame object whose event is its `type`, so line `L` of type `t` becomes the
 * Socket.IO EVENT packet `2["t",L]` of the main namespace — made by concatenation, never by parsing `L`. On the
 * wire an engine.io message adds its type `4` in front: `42["message",{"type":"message",…}]`, exactly what
 * `socket.emit("message", frame)` would send, so the official `socket.io-client` sees one `message` event per
 * message, as the Socket.IO form of the protocol promises.
 *
 * Two forms, each built lazily on the first subscriber that needs it:
 * - {@link frames}: every packet as a complete WebSocket text frame, all in ONE buffer, so a WebSocket subscriber
 *   gets the whole batch in one socket write (what `socket.io-adapter` does for one packet with
 *   `wsPreEncodedFrame`, extended to a batch of packets);
 * - {@link packets}: the engine.io packet strings, for transports that encode themselves (HTTP long-polling).
 */
export class SocketIoBatch {
  #packets: string[] | undefined;
  #frames: Buffer[] | undefined;
  #engineOptions: { wsPreEncodedFrame: Buffer[] } | undefined;
  #bytes = -1;
  #packetChars = -1;

  constructor(private readonly lines: readonly string[]) {}

  /** The engine.io message payloads (`2["<type>",<line>]`), one per line. */
  get packets(): string[] {
    if (this.#packets === undefined) {
      const lines = this.lines;
      const packets = new Array<string>(lines.length);
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        packets[i] = `${packetPrefix(line)}${line}]`;
      }
      this.#packets = packets;
    }
    return this.#packets;
  }

  /**
   * The whole batch as consecutive WebSocket text frames (server frames are unmasked), one frame per packet, in
   * one buffer: the argument of ws's `Sender#sendFrame`, like `wsPreEncodedFrame` in Socket.IO's adapter.
   */
  get frames(): Buffer[] {
    if (this.#frames === undefined) {
      const lines = this.lines;
      const n = lines.length;
      const prefixes = new Array<string>(n);
      const sizes = new Array<number>(n);
      let total = 0;
      for (let i = 0; i < n; i++) {
        const line = lines[i]!;
        const prefix = `4${packetPrefix(line)}`;
        // the prefix is ASCII: its length is its byte length
        const size = prefix.length + Buffer.byteLength(line) + 1;
        prefixes[i] = prefix;
        sizes[i] = size;
        total += headerSize(size) + size;
      }
      const buf = Buffer.allocUnsafe(total);
      let o = 0;
      for (let i = 0; i < n; i++) {
        o = writeHeader(buf, o, sizes[i]!);
        o += buf.write(prefixes[i]!, o, 'latin1');
        o += buf.write(lines[i]!, o, 'utf8');
        buf[o++] = 0x5d; // ]
      }
      this.#frames = [buf];
      this.#bytes = total;
    }
    return this.#frames;
  }

  /**
   * engine.io write options carrying {@link frames} as `wsPreEncodedFrame`: engine.io's websocket transport hands them
   * to ws's sender as they are (used when the batch must queue behind packets engine.io already holds).
   */
  get engineOptions(): { wsPreEncodedFrame: Buffer[] } {
    return (this.#engineOptions ??= { wsPreEncodedFrame: this.frames });
  }

  /** The bytes this batch adds to a WebSocket subscriber's queue (the size of {@link frames}). */
  get bytes(): number {
    if (this.#bytes < 0) void this.frames;
    return this.#bytes;
  }

  /** About what the batch adds to a long-polling subscriber's queue (the packets' length; no frames are built). */
  get packetChars(): number {
    if (this.#packetChars < 0) {
      let n = 0;
      for (const packet of this.packets) n += packet.length;
      this.#packetChars = n;
    }
    return this.#packetChars;
  }
}

/** The Socket.IO encoding of a batch, built once per batch whatever the number of subscribers. */
export function socketIoBatch(batch: PreparedBatch): SocketIoBatch {
  let encoded = batch.encoded.socketio as SocketIoBatch | undefined;
  if (encoded === undefined) {
    encoded = new SocketIoBatch(batch.lines);
    batch.encoded.socketio = encoded;
  }
  return encoded;
}

const TYPE_PREFIX = '{"type":"';
const KNOWN_PREFIXES = new Map<string, string>([
  ['message', '2["message",'],
  ['presence', '2["presence",'],
  ['resync', '2["resync",'],
]);
const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * `2["<type>",` for a frame line, its event name read from the line's prefix `{"type":"<type>"`. Every line the Hub
 * delivers starts that way (message heads, presence and resync frames are built so); anything else is parsed once
 * to find its type (never on the hot path).
 */
export function packetPrefix(line: string): string {
  if (line.startsWith(TYPE_PREFIX)) {
    const end = line.indexOf('"', TYPE_PREFIX.length);
    if (end > TYPE_PREFIX.length) {
      const type = line.slice(TYPE_PREFIX.length, end);
      const known = KNOWN_PREFIXES.get(type);
      if (known !== undefined) return known;
      if (EVENT_NAME.test(type)) return `2["${type}",`;
    }
  }
  let type = 'message';
  try {
    const parsed = JSON.parse(line) as { type?: unknown } | null;
    if (typeof parsed?.type === 'string' && EVENT_NAME.test(parsed.type)) type = parsed.type;
  } catch {
    // not JSON: delivered as a `message` event all the same
  }
  return `2[${JSON.stringify(type)},`;
}

/** The size of a server (unmasked) WebSocket frame header for a payload of `size` bytes. */
export function headerSize(size: number): number {
  return size < 126 ? 2 : size < 65_536 ? 4 : 10;
}

/** Writes a FIN text-frame header for `size` bytes at `o`; returns the offset after it. */
function writeHeader(buf: Buffer, o: number, size: number): number {
  buf[o] = 0x81; // FIN + opcode 1 (text)
  if (size < 126) {
    buf[o + 1] = size;
    return o + 2;
  }
  if (size < 65_536) {
    buf[o + 1] = 126;
    buf.writeUInt16BE(size, o + 2);
    return o + 4;
  }
  buf[o + 1] = 127;
  buf.writeUInt32BE(Math.floor(size / 2 ** 32), o + 2);
  buf.writeUInt32BE(size >>> 0, o + 6);
  return o + 10;
}
