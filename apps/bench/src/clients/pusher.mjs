/**
 * Reading Pusher protocol 7 frames in the load generator. Every server frame holds exactly one event,
 * `{"event":…,"channel":…,"data":"<JSON string>"}`; the bench payload is inside `data` as a JSON string, so its keys
 * appear escaped (`\"seq\":`, `\"t\":`). Like lines.mjs, the hot path reads frames without JSON-parsing them.
 */

const SEQ_MARKER = Buffer.from('\\"seq\\":');
const T_MARKER = Buffer.from('\\"t\\":');
const PING_MARKER = Buffer.from('"pusher:ping"');

/** What the client answers `pusher:ping` with. */
export const PUSHER_PONG = '{"event":"pusher:pong","data":{}}';

/**
 * Whether a frame is a bench message (an event whose data holds the payload's `seq`). Protocol events
 * (`pusher:…`, `pusher_internal:…`) are not.
 * @param {Buffer} buf
 */
export function isPusherMessage(buf) {
  return buf.indexOf(SEQ_MARKER) !== -1;
}

/**
 * Whether a frame is the server's `pusher:ping` (the client answers with {@link PUSHER_PONG}).
 * @param {Buffer} buf
 */
export function isPusherPing(buf) {
  return buf.length < 64 && buf.indexOf(PING_MARKER) !== -1;
}

/**
 * The payload's `t` (scheduled send time) of a bench message frame, read without parsing; NaN for any other frame.
 * @param {Buffer} buf
 */
export function pusherSendTime(buf) {
  if (buf.indexOf(SEQ_MARKER) === -1) return NaN;
  const at = buf.indexOf(T_MARKER);
  if (at === -1) return NaN;
  const start = at + T_MARKER.length;
  let end = start;
  const len = buf.length;
  while (end < len) {
    const c = /** @type {number} */ (buf[end]);
    // digits, '.', '-', '+', 'e'/'E'
    if ((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x2b || c === 0x65 || c === 0x45) end++;
    else break;
  }
  return end > start ? Number(buf.toString('latin1', start, end)) : NaN;
}

/**
 * A protocol event of the handshake (connection_established, subscription_succeeded, errors), parsed.
 * @param {Buffer} buf
 * @returns {{ event?: string, channel?: string, data?: unknown } | undefined}
 */
export function parsePusherEvent(buf) {
  try {
    const value = JSON.parse(buf.toString());
    return value !== null && typeof value === 'object' ? value : undefined;
  } catch {
    return undefined;
  }
}
