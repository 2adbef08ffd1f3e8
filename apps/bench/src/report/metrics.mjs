/**
 * The reported metrics, the order they appear in, and the targets from BENCHMARKS.md. Shared by the
 * Markdown table and the SVG chart.
 */

/**
 * @typedef {object} Metric
 * @property {string} workload results key (W1, W1_100x10, W2, W3)
 * @property {string} field
 * @property {string} label
 * @property {'higher' | 'lower'} better
 * @property {(v: number) => string} format
 */

const int = (/** @type {number} */ v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const fixed = (/** @type {number} */ d) => (/** @type {number} */ v) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');

/** @type {Metric[]} */
export const METRICS = [
  { workload: 'W1', field: 'deliveriesPerSec', label: 'W1 deliveries/s', better: 'higher', format: int },
  { workload: 'W1', field: 'cpuSecPerMillion', label: 'W1 server CPU-s per 1M deliveries', better: 'lower', format: fixed(3) },
  { workload: 'W1_100x10', field: 'deliveriesPerSec', label: 'W1 many channels deliveries/s', better: 'higher', format: int },
  { workload: 'W1_100x10', field: 'cpuSecPerMillion', label: 'W1 many channels CPU-s per 1M', better: 'lower', format: fixed(3) },
  { workload: 'W2', field: 'p50Ms', label: 'W2 p50 latency (ms)', better: 'lower', format: fixed(2) },
  { workload: 'W2', field: 'p99Ms', label: 'W2 p99 latency (ms)', better: 'lower', format: fixed(2) },
  { workload: 'W2', field: 'p999Ms', label: 'W2 p99.9 latency (ms)', better: 'lower', format: fixed(2) },
  { workload: 'W3', field: 'heapBytesPerConn', label: 'W3 heap bytes per idle connection', better: 'lower', format: int },
  { workload: 'W3', field: 'rssBytesPerConn', label: 'W3 RSS bytes per idle connection', better: 'lower', format: int },
];

/**
 * @typedef {object} Target
 * @property {string} workload
 * @property {string} field
 * @property {string} subject peer the target is about
 * @property {string} reference peer it is compared with
 * @property {'>=' | '<='} op subject ÷ reference op bound
 * @property {number} bound
 */

/** BENCHMARKS.md targets that can be checked from W1–W3 (W4, W5 come with their workloads). */
/** @type {Target[]} */
export const TARGETS = [
  { workload: 'W1', field: 'deliveriesPerSec', subject: 'unisocket-native', reference: 'ws-naive', op: '>=', bound: 2 },
  { workload: 'W1', field: 'deliveriesPerSec', subject: 'unisocket-native', reference: 'socketio', op: '>=', bound: 5 },
  { workload: 'W1', field: 'cpuSecPerMillion', subject: 'unisocket-native', reference: 'ws-naive', op: '<=', bound: 0.5 },
  { workload: 'W2', field: 'p99Ms', subject: 'unisocket-native', reference: 'ws-once', op: '<=', bound: 1 },
  { workload: 'W3', field: 'heapBytesPerConn', subject: 'unisocket-native', reference: 'ws-naive', op: '<=', bound: 1.25 },
  { workload: 'W3', field: 'heapBytesPerConn', subject: 'unisocket-native', reference: 'socketio', op: '<=', bound: 0.5 },
];

/**
 * subject ÷ reference, or NaN when either is missing or the reference is 0.
 * @param {number | undefined} subject
 * @param {number | undefined} reference
 */
export function ratio(subject, reference) {
  if (typeof subject !== 'number' || typeof reference !== 'number') return NaN;
  if (!Number.isFinite(subject) || !Number.isFinite(reference) || reference === 0) return NaN;
  return subject / reference;
}
