/**
 * Counting and parsing messages in newline-batched text frames (protocol v1: one server frame may carry
 * several JSON objects separated by `\n`).
 */

const NL = 0x0a;
const SEQ_MARKER = Buffer.from('"seq":');
const T_MARKER = Buffer.from('"t":');

/**
 * Number of bench messages in a frame without parsing it: lines holding the payload's `"seq":` key.
 * Control lines (welcome, ack, ping) do not count.
 * @param {Buffer} buf
 */
export function countMessages(buf) {
  let n = 0;
  let pos = 0;
  const len = buf.length;
  while (pos < len) {
    let nl = buf.indexOf(NL, pos);
    if (nl === -1) nl = len;
    const m = buf.indexOf(SEQ_MARKER, pos);
    if (m === -1) break;
    if (m < nl) n++;
    else {
      // The next marker is on a later line: skip straight to that line.
      const lineStart = buf.lastIndexOf(NL, m);
      pos = lineStart + 1;
      continue;
    }
    pos = nl + 1;
  }
  return n;
}

/**
 * The payload of a parsed message: the object itself (`{seq,t,…}`, Socket.IO peers emit the data) or its
 * `data` (`{"type":"message",…,"data":{seq,t,…}}`, the ws peers and unisocket). `undefined` for anything else.
 * @param {any} value
 * @returns {{ seq: number, t: number } | undefined}
 */
export function payloadOf(value) {
  if (value === null || typeof value !== 'object') return undefined;
  if (typeof value.t === 'number' && typeof value.seq === 'number') return value;
  const data = value.data;
  if (data !== null && typeof data === 'object' && typeof data.t === 'number' && typeof data.seq === 'number')
    return data;
  return undefined;
}

/**
 * Calls `onT` with the `t` (scheduled send time) of every bench message in a frame, without parsing the lines as
 * JSON: a line holding `"seq":` is a bench message, and its `"t":` is read as a number. The latency workloads use it
 * on the `ws` clients, where receiving 100,000 messages/s on one core must leave room (JSON.parse of every line did
 * not). Lines without both keys are skipped.
 * @param {Buffer} buf
 * @param {(t: number) => void} onT
 * @returns {number} messages found
 */
export function forEachSendTime(buf, onT) {
  let n = 0;
  let pos = 0;
  const len = buf.length;
  while (pos < len) {
    let nl = buf.indexOf(NL, pos);
    if (nl === -1) nl = len;
    const seq = buf.indexOf(SEQ_MARKER, pos);
    if (seq === -1) break;
    if (seq > nl) {
      pos = buf.lastIndexOf(NL, seq) + 1;
      continue;
    }
    const tAt = buf.indexOf(T_MARKER, pos);
    if (tAt !== -1 && tAt < nl) {
      const start = tAt + T_MARKER.length;
      let end = start;
      while (end < nl) {
        const c = /** @type {number} */ (buf[end]);
        // digits, '.', '-', '+', 'e'/'E'
        if ((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x2b || c === 0x65 || c === 0x45) end++;
        else break;
      }
      const t = Number(buf.toString('latin1', start, end));
      if (end > start && Number.isFinite(t)) {
        onT(t);
        n++;
      }
    }
    pos = nl + 1;
  }
  return n;
}
