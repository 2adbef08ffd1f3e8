/**
 * The reported metrics, the order they appear in, and the project's performance targets. Shared by the
 * Markdown table and the SVG chart.
 */

/**
 * @typedef {object} Metric
 * @property {string} workload results key (W1, W1_100x10, W2, W3, W4, W5)
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
  {
    workload: 'W1',
    field: 'cpuSecPerMillion',
    label: 'W1 server CPU-s per 1M deliveries',
    better: 'lower',
    format: fixed(3),
  },
  {
    workload: 'W1_100x10',
    field: 'deliveriesPerSec',
    label: 'W1 many channels deliveries/s',
    better: 'higher',
    format: int,
  },
  {
    workload: 'W1_100x10',
    field: 'cpuSecPerMillion',
    label: 'W1 many channels CPU-s per 1M',
    better: 'lower',
    format: fixed(3),
  },
  { workload: 'W2', field: 'p50Ms', label: 'W2 p50 latency (ms)', better: 'lower', format: fixed(2) },
  { workload: 'W2', field: 'p99Ms', label: 'W2 p99 latency (ms)', better: 'lower', format: fixed(2) },
  { workload: 'W2', field: 'p999Ms', label: 'W2 p99.9 latency (ms)', better: 'lower', format: fixed(2) },
  {
    workload: 'W3',
    field: 'heapBytesPerConn',
    label: 'W3 heap bytes per idle connection',
    better: 'lower',
    format: int,
  },
  { workload: 'W3', field: 'rssBytesPerConn', label: 'W3 RSS bytes per idle connection', better: 'lower', format: int },
  { workload: 'W4', field: 'sameNodeP99Ms', label: 'W4 p99, same node (ms)', better: 'lower', format: fixed(2) },
  {
    workload: 'W4',
    field: 'addedP50Ms',
    label: 'W4 p50 added across 2 nodes on Redis (ms)',
    better: 'lower',
    format: fixed(2),
  },
  {
    workload: 'W4',
    field: 'addedP99Ms',
    label: 'W4 p99 added across 2 nodes on Redis (ms)',
    better: 'lower',
    format: fixed(2),
  },
  {
    workload: 'W4',
    field: 'kafkaAddedP50Ms',
    label: 'W4 p50 added across 2 nodes on Kafka (ms)',
    better: 'lower',
    format: fixed(2),
  },
  {
    workload: 'W4',
    field: 'kafkaAddedP99Ms',
    label: 'W4 p99 added across 2 nodes on Kafka (ms)',
    better: 'lower',
    format: fixed(2),
  },
  {
    workload: 'W5',
    field: 'p99Ms',
    label: 'W5 p99 of the reading subscribers (ms)',
    better: 'lower',
    format: fixed(2),
  },
  { workload: 'W5', field: 'p99VsW2', label: 'W5 p99 ÷ own W2 p99', better: 'lower', format: fixed(2) },
  {
    workload: 'W5',
    field: 'rssGrowthBytes',
    label: 'W5 server RSS growth over the window (bytes)',
    better: 'lower',
    format: int,
  },
  {
    workload: 'W5',
    field: 'rssSecondHalfGrowthBytes',
    label: 'W5 server RSS growth in its second half (bytes)',
    better: 'lower',
    format: int,
  },
  { workload: 'W6', field: 'recoveredPct', label: 'W6 clients recovered (%)', better: 'higher', format: fixed(1) },
  {
    workload: 'W6',
    field: 'p99RecoveredMs',
    label: 'W6 time from the kill to 99% recovered (ms)',
    better: 'lower',
    format: int,
  },
  {
    workload: 'W6',
    field: 'allRecoveredMs',
    label: 'W6 time from the kill to 100% recovered (ms)',
    better: 'lower',
    format: int,
  },
  {
    workload: 'W6',
    field: 'p99ResumedMs',
    label: 'W6 time from the kill to 99% resubscribed (ms)',
    better: 'lower',
    format: int,
  },
  { workload: 'W6', field: 'lost', label: 'W6 messages lost (all clients)', better: 'lower', format: int },
  { workload: 'W6', field: 'duplicated', label: 'W6 messages duplicated (all clients)', better: 'lower', format: int },
  { workload: 'W6', field: 'nodeBCpuSec', label: 'W6 node B CPU-s over the storm', better: 'lower', format: fixed(2) },
  {
    workload: 'W6',
    field: 'nodeBStormCpuSec',
    label: 'W6 node B CPU-s above its pre-kill rate (the storm)',
    better: 'lower',
    format: fixed(2),
  },
  {
    workload: 'W6',
    field: 'nodeBLoopDelayP99Ms',
    label: 'W6 node B event-loop delay p99 (ms)',
    better: 'lower',
    format: fixed(1),
  },
  {
    workload: 'W6',
    field: 'nodeBLoopDelayMaxMs',
    label: 'W6 node B event-loop delay max (ms)',
    better: 'lower',
    format: fixed(1),
  },
  { workload: 'W6', field: 'redisCommands', label: 'W6 Redis commands during the storm', better: 'lower', format: int },
  {
    workload: 'W3b',
    field: 'heapBytesPerConn',
    label: 'W3b heap bytes per idle connection (sum over workers)',
    better: 'lower',
    format: int,
  },
  {
    workload: 'W3b',
    field: 'rssBytesPerConn',
    label: 'W3b RSS bytes per idle connection (sum over workers)',
    better: 'lower',
    format: int,
  },
  { workload: 'W3b', field: 'heapVsW3', label: 'W3b heap per connection ÷ own W3', better: 'lower', format: fixed(2) },
  {
    workload: 'W3b',
    field: 'acceptMs',
    label: 'W3b time to accept every connection (ms)',
    better: 'lower',
    format: int,
  },
];

/**
 * @typedef {object} Target
 * @property {string} workload
 * @property {string} field
 * @property {string} subject peer the target is about
 * @property {string} [reference] peer it is compared with (subject ÷ reference op bound); absent: the subject's
 *   own value is compared with the bound (W4's milliseconds, W5's ratio to its own W2)
 * @property {'>=' | '<='} op
 * @property {number} bound
 * @property {boolean} [referenceNever] a missing reference value means the reference never got there (W6: Socket.IO
 *   never had 99 % of its clients recovered): a subject that did meets a `<=` target by an infinite margin
 */

/**
 * The most the server's RSS may still grow in the second half of W5's window for it to count as bounded: by then a
 * server that bounds what it buffers for a stalled reader has reached its plateau. 8 MiB is allocator and GC noise.
 */
export const W5_RSS_PLATEAU_BYTES = 8 * 2 ** 20;

/** The performance targets unisocket holds itself to (W1–W5). */
/** @type {Target[]} */
export const TARGETS = [
  { workload: 'W1', field: 'deliveriesPerSec', subject: 'unisocket-native', reference: 'ws-naive', op: '>=', bound: 2 },
  { workload: 'W1', field: 'deliveriesPerSec', subject: 'unisocket-native', reference: 'socketio', op: '>=', bound: 5 },
  {
    workload: 'W1',
    field: 'cpuSecPerMillion',
    subject: 'unisocket-native',
    reference: 'ws-naive',
    op: '<=',
    bound: 0.5,
  },
  { workload: 'W2', field: 'p99Ms', subject: 'unisocket-native', reference: 'ws-once', op: '<=', bound: 1 },
  {
    workload: 'W3',
    field: 'heapBytesPerConn',
    subject: 'unisocket-native',
    reference: 'ws-naive',
    op: '<=',
    bound: 1.25,
  },
  {
    workload: 'W3',
    field: 'heapBytesPerConn',
    subject: 'unisocket-native',
    reference: 'socketio',
    op: '<=',
    bound: 0.5,
  },
  // The Pusher transport against the native one on the same Hub: the translation to Pusher events costs little
  {
    workload: 'W1',
    field: 'cpuSecPerMillion',
    subject: 'unisocket-pusher',
    reference: 'unisocket-native',
    op: '<=',
    bound: 1.5,
  },
  {
    workload: 'W3',
    field: 'heapBytesPerConn',
    subject: 'unisocket-pusher',
    reference: 'unisocket-native',
    op: '<=',
    bound: 1.25,
  },
  // Webhooks on for every lifecycle event with a dead receiver: the publish path does not notice (issue 16)
  {
    workload: 'W1',
    field: 'deliveriesPerSec',
    subject: 'unisocket-webhooks',
    reference: 'unisocket-native',
    op: '>=',
    bound: 0.95,
  },
  {
    workload: 'W1',
    field: 'cpuSecPerMillion',
    subject: 'unisocket-webhooks',
    reference: 'unisocket-native',
    op: '<=',
    bound: 1.05,
  },
  { workload: 'W4', field: 'addedP50Ms', subject: 'unisocket-native', op: '<=', bound: 1 },
  { workload: 'W4', field: 'addedP99Ms', subject: 'unisocket-native', op: '<=', bound: 5 },
  { workload: 'W5', field: 'p99VsW2', subject: 'unisocket-native', op: '<=', bound: 2 },
  {
    workload: 'W5',
    field: 'rssSecondHalfGrowthBytes',
    subject: 'unisocket-native',
    op: '<=',
    bound: W5_RSS_PLATEAU_BYTES,
  },
  // W6 (issue 19): a node SIGKILLed under 10,000 clients loses nothing and the storm is short
  { workload: 'W6', field: 'recoveredPct', subject: 'unisocket-native', op: '>=', bound: 100 },
  { workload: 'W6', field: 'lost', subject: 'unisocket-native', op: '<=', bound: 0 },
  { workload: 'W6', field: 'duplicated', subject: 'unisocket-native', op: '<=', bound: 0 },
  { workload: 'W6', field: 'p99RecoveredMs', subject: 'unisocket-native', op: '<=', bound: 5000 },
  {
    workload: 'W6',
    field: 'p99RecoveredMs',
    subject: 'unisocket-native',
    reference: 'socketio-streams',
    op: '<=',
    bound: 0.2,
    referenceNever: true,
  },
  // W3b: workers do not make a connection dearer
  { workload: 'W3b', field: 'heapVsW3', subject: 'unisocket-native', op: '<=', bound: 1.25 },
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
