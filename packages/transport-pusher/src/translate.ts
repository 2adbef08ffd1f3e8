import type { PreparedBatch } from '@unisocket/core';
import { pusherChannelOf, pusherUserOf } from './namespace';

/**
 * The Pusher form of one {@link PreparedBatch}: each message or presence line as one Pusher event (one JSON object
 * per WebSocket message: Pusher has no newline batching), and all of them framed as consecutive unmasked WebSocket
 * text frames in one buffer. Built once per batch (cached in `batch.encoded.pusher`) and written to every Pusher
 * subscriber as it is, the way the native transport writes its one frame.
 */
export interface PusherBatch {
  /** The Pusher events, as JSON text. */
  readonly texts: readonly string[];
  /** {@link texts} framed: one buffer holding one WebSocket text frame per event. */
  readonly frame: Buffer;
  /**
   * Per text, the Hub user id a `member_added` announces, or `undefined` when the batch holds no join: Pusher does not
   * tell a member about its own arrival, so a socket that is that member gets the batch without it.
   */
  readonly joined: (string | undefined)[] | undefined;
  /** The stream epoch the messages' positions were written with (`undefined`: written without positions). */
  readonly epoch: string | undefined;
  /** The epoch a `resync` line of the batch moved the channel to (the last one), or `undefined`. */
  readonly resync: string | undefined;
}

const PRESENCE_JOIN_PREFIX = '{"type":"presence",';
const RESYNC_PREFIX = '{"type":"resync",';

/**
 * The Pusher encoding of a batch, built on the first Pusher subscriber that receives it. `epoch` is the channel's
 * stream epoch as the subscriber knows it (from its subscribe ack and `resync` lines): each message then carries its
 * position as `"unisocket":{"epoch","offset"}`, a top-level field pusher-js ignores. Every subscriber of a batch
 * knows the same epoch, so the encoding stays once per batch; one that does not gets its own, uncached.
 */
export function pusherBatch(batch: PreparedBatch, epoch?: string): PusherBatch {
  const cached = batch.encoded.pusher as PusherBatch | undefined;
  if (cached !== undefined && cached.epoch === epoch) return cached;
  const channel = pusherChannelOf(batch.channel);
  const texts: string[] = [];
  let joined: (string | undefined)[] | undefined;
  let current = epoch;
  let resync: string | undefined;
  for (const line of batch.lines) {
    if (line.startsWith(RESYNC_PREFIX)) {
      // the stream restarted: the messages after it are positioned in the new epoch
      const position = JSON.parse(line) as { epoch?: unknown };
      if (typeof position.epoch === 'string') current = resync = position.epoch;
      continue;
    }
    const text = pusherEventOfLine(line, channel, current);
    if (text === undefined) continue;
    if (line.startsWith(PRESENCE_JOIN_PREFIX)) {
      const presence = JSON.parse(line) as { action: string; member: { userId: string } };
      if (presence.action === 'join') (joined ??= [])[texts.length] = presence.member.userId;
    }
    texts.push(text);
  }
  const encoded: PusherBatch = { texts, frame: frameTexts(texts), joined, epoch, resync };
  if (cached === undefined) batch.encoded.pusher = encoded;
  return encoded;
}

/**
 * One Hub line as a Pusher event: a message becomes `{"event","channel","data"}` with `data` the JSON text of the
 * message's data (a string data stays that string), plus `user_id` for a client event on a presence channel, and
 * with an `epoch` its stream position `"unisocket":{"epoch","offset"}` (pusher-js reads only `event`, `channel`,
 * `data` and `user_id`); a presence join/leave becomes `pusher_internal:member_added` / `member_removed`. Other lines
 * have no Pusher form.
 */
export function pusherEventOfLine(line: string, channel: string, epoch?: string): string | undefined {
  let frame: {
    type?: unknown;
    event?: unknown;
    data?: unknown;
    userId?: unknown;
    action?: unknown;
    member?: unknown;
    offset?: unknown;
  };
  try {
    frame = JSON.parse(line) as typeof frame;
  } catch {
    return undefined;
  }
  if (frame.type === 'message' && typeof frame.event === 'string') {
    const data = typeof frame.data === 'string' ? frame.data : JSON.stringify(frame.data ?? null);
    const event: Record<string, unknown> = { event: frame.event, channel, data };
    if (typeof frame.userId === 'string') event.user_id = pusherUserOf(frame.userId);
    if (epoch !== undefined && typeof frame.offset === 'number') event.unisocket = { epoch, offset: frame.offset };
    return JSON.stringify(event);
  }
  if (frame.type === 'presence' && typeof frame.member === 'object' && frame.member !== null) {
    const member = frame.member as { userId?: unknown; info?: unknown };
    if (typeof member.userId !== 'string') return undefined;
    const userId = pusherUserOf(member.userId);
    if (frame.action === 'join') {
      const data = member.info === undefined ? { user_id: userId } : { user_id: userId, user_info: member.info };
      return JSON.stringify({ event: 'pusher_internal:member_added', channel, data: JSON.stringify(data) });
    }
    if (frame.action === 'leave') {
      return JSON.stringify({
        event: 'pusher_internal:member_removed',
        channel,
        data: JSON.stringify({ user_id: userId }),
      });
    }
  }
  return undefined;
}

/** Unmasked WebSocket text frames (FIN set), one per text, in one buffer. */
export function frameTexts(texts: readonly string[]): Buffer {
  let total = 0;
  const sizes = new Array<number>(texts.length);
  for (let i = 0; i < texts.length; i++) {
    const size = Buffer.byteLength(texts[i]!);
    sizes[i] = size;
    total += headerSize(size) + size;
  }
  const buf = Buffer.allocUnsafe(total);
  let o = 0;
  for (let i = 0; i < texts.length; i++) {
    const size = sizes[i]!;
    buf[o++] = 0x81;
    if (size < 126) {
      buf[o++] = size;
    } else if (size < 65_536) {
      buf[o++] = 126;
      buf.writeUInt16BE(size, o);
      o += 2;
    } else {
      buf[o++] = 127;
      buf.writeUInt32BE(Math.floor(size / 2 ** 32), o);
      buf.writeUInt32BE(size >>> 0, o + 4);
      o += 8;
    }
    o += buf.write(texts[i]!, o, 'utf8');
  }
  return buf;
}

function headerSize(size: number): number {
  return size < 126 ? 2 : size < 65_536 ? 4 : 10;
}
