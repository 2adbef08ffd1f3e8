/**
 * The payload every system under test publishes: the same ~100-byte JSON object for every peer.
 * `seq` numbers the publishes of one run, `t` is the (scheduled) send time in wall-clock ms.
 */

/** Channel name used when a workload has a single channel. */
export const BENCH_CHANNEL = 'bench';
/** Event name used for every published message. */
export const BENCH_EVENT = 'tick';
/** Target size of `JSON.stringify(data)` in bytes. */
export const PAYLOAD_BYTES = 100;

// {"seq":123456,"t":1763800000000.123,"p":"…"} — pad so a typical message is PAYLOAD_BYTES long.
const TYPICAL = JSON.stringify({ seq: 123456, t: 1763800000000.123, p: '' });
const PAD = 'x'.repeat(Math.max(0, PAYLOAD_BYTES - TYPICAL.length));

/**
 * @typedef {{ seq: number, t: number, p: string }} BenchData
 */

/**
 * @param {number} seq
 * @param {number} t wall-clock ms (scheduled send time in W2, actual publish time in W1)
 * @returns {BenchData}
 */
export function makeData(seq, t) {
  return { seq, t, p: PAD };
}

/** Channel names for a workload with `count` channels (`bench` when there is one). */
export function channelNames(/** @type {number} */ count) {
  if (count === 1) return [BENCH_CHANNEL];
  return Array.from({ length: count }, (_, i) => `${BENCH_CHANNEL}.${i}`);
}
