/**
 * Counting and parsing messages in newline-batched text frames (DESIGN.md §3: one server frame may carry
 * several JSON objects separated by `\n`).
 */

const NL = 0x0a;
const SEQ_MARKER = Buffer.from('"seq":');

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
  if (data !== null && typeof data === 'object' && typeof data.t === 'number' && typeof data.seq === 'number') return data;
  return undefined;
}

/**
 * Calls `onPayload` for every bench message in a frame (parses each line).
 * @param {string} text
 * @param {(payload: { seq: number, t: number }) => void} onPayload
 */
export function forEachPayload(text, onPayload) {
  let pos = 0;
  const len = text.length;
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = len;
    if (nl > pos) {
      let value;
      try {
        value = JSON.parse(text.slice(pos, nl));
      } catch {
        value = undefined;
      }
      const payload = payloadOf(value);
      if (payload) onPayload(payload);
    }
    pos = nl + 1;
  }
}
