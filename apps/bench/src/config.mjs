/**
 * Workload parameters for the two modes. `full` is the one whose numbers count; `quick` is a CI smoke test
 * (same code paths, smaller and shorter, finishes in under 2 minutes for five peers).
 *
 * Process counts on a 2-core machine: the server is pinned to core 0 and every load generator to core 1
 * (see proc.mjs). Two client processes per throughput/latency run keep each below ~5,000 sockets and give
 * the OS two event loops to schedule, without multiplying per-process overhead on the one client core.
 */

/**
 * @typedef {object} ThroughputParams
 * @property {number} channels
 * @property {number} perChannel subscribers per channel
 * @property {number} clientProcesses
 * @property {number} warmupMs unmeasured publishing first (JIT, socket buffers), then a drain
 * @property {number} durationMs the measured publish window
 * @property {number} repeat runs per peer (interleaved across peers); the median is reported
 * @property {number} burstPerChannel publishes per channel per event-loop turn of the W1 publish loop (a turn
 *   publishes this many messages on every channel, round-robin, then yields with setImmediate)
 */

/**
 * @typedef {object} LatencyParams
 * @property {number} perChannel
 * @property {number} clientProcesses
 * @property {number} warmupMs published but not recorded
 * @property {number} durationMs recorded
 * @property {number} repeat runs per peer; their histograms are merged
 */

/**
 * @typedef {LatencyParams & { ratePerSec: number, settleMs: number, measured?: number }} CrossNodeParams W4: one channel at a fixed
 *   rate; `measured` of the subscribers are measured, the others are sinks (see `LatencyRunOptions.measured` in w2.mjs)
 *   (not derived from W1: a fixed rate), subscribers on the second node; `settleMs` lets cross-node
 *   subscriptions settle before publishing starts
 */

/**
 * @typedef {LatencyParams & { slowFraction: number, rssEveryMs: number }} SlowConsumerParams W5: W2's subscribers
 *   and rate, `slowFraction` of them stop reading; the server's RSS is sampled every `rssEveryMs`
 */

/**
 * @typedef {object} MemoryParams
 * @property {number} connections
 * @property {number} channels
 * @property {number} clientProcesses
 * @property {number} settleMs pause after the last subscription before measuring
 */

/**
 * @typedef {object} StormParams W6
 * @property {number} clients on node A, spread evenly over the channels (a multiple of `channels`)
 * @property {number} channels
 * @property {number} ratePerSec the live stream, messages per second over all channels (published on node B)
 * @property {number} clientProcesses at least this many (more if a process would hold over 5,000 sockets)
 * @property {number} liveMs the stream runs this long with every client live before node A is killed
 * @property {number} settleMs once every client has resumed, how long the harness waits for the rest to recover
 * @property {number} stormTimeoutMs the most the storm is watched (from the kill)
 * @property {number} tailMs the stream goes on this long after the storm before it stops
 * @property {number} drainMs the most the harness waits for every client to reach its channel's head
 */

/**
 * @typedef {object} ClusterMemoryParams W3b
 * @property {number} connections idle connections, one channel each (round-robin)
 * @property {number} channels
 * @property {number} workers `node:cluster` worker processes sharing the port
 * @property {number} clientProcesses at least this many (more if a process would hold over 5,000 sockets)
 * @property {number} settleMs pause after the last subscription before measuring
 */

/**
 * @typedef {object} ModeParams
 * @property {ThroughputParams} W1
 * @property {ThroughputParams} W1_100x10
 * @property {LatencyParams} W2
 * @property {MemoryParams} W3
 * @property {CrossNodeParams} W4
 * @property {SlowConsumerParams} W5
 * @property {StormParams} W6
 * @property {ClusterMemoryParams} W3b
 */

/** @type {{ full: ModeParams, quick: ModeParams }} */
export const MODES = {
  full: {
    W1: {
      channels: 1,
      perChannel: 1000,
      clientProcesses: 2,
      warmupMs: 2000,
      durationMs: 8000,
      repeat: 3,
      burstPerChannel: 5,
    },
    W1_100x10: {
      channels: 100,
      perChannel: 10,
      clientProcesses: 2,
      warmupMs: 2000,
      durationMs: 8000,
      repeat: 3,
      burstPerChannel: 5,
    },
    W2: { perChannel: 1000, clientProcesses: 2, warmupMs: 3000, durationMs: 15000, repeat: 3 },
    W3: { connections: 10000, channels: 100, clientProcesses: 4, settleMs: 1000 },
    W4: {
      perChannel: 100,
      clientProcesses: 1,
      ratePerSec: 1000,
      warmupMs: 3000,
      durationMs: 10000,
      repeat: 2,
      settleMs: 2000,
      measured: 10,
    },
    W5: {
      perChannel: 1000,
      clientProcesses: 2,
      warmupMs: 3000,
      durationMs: 15000,
      repeat: 2,
      slowFraction: 0.01,
      rssEveryMs: 250,
    },
    W6: {
      clients: 10000,
      channels: 100,
      ratePerSec: 500,
      clientProcesses: 4,
      liveMs: 3000,
      settleMs: 3000,
      stormTimeoutMs: 60_000,
      tailMs: 1000,
      drainMs: 15_000,
    },
    W3b: { connections: 30000, channels: 100, workers: 2, clientProcesses: 6, settleMs: 1000 },
  },
  quick: {
    W1: {
      channels: 1,
      perChannel: 200,
      clientProcesses: 2,
      warmupMs: 300,
      durationMs: 1000,
      repeat: 1,
      burstPerChannel: 5,
    },
    W1_100x10: {
      channels: 20,
      perChannel: 10,
      clientProcesses: 2,
      warmupMs: 300,
      durationMs: 1000,
      repeat: 1,
      burstPerChannel: 5,
    },
    W2: { perChannel: 200, clientProcesses: 2, warmupMs: 300, durationMs: 1500, repeat: 1 },
    W3: { connections: 1000, channels: 100, clientProcesses: 2, settleMs: 300 },
    W4: {
      perChannel: 20,
      clientProcesses: 1,
      ratePerSec: 200,
      warmupMs: 300,
      durationMs: 1500,
      repeat: 1,
      settleMs: 1000,
      measured: 5,
    },
    W5: {
      perChannel: 200,
      clientProcesses: 2,
      warmupMs: 300,
      durationMs: 1500,
      repeat: 1,
      slowFraction: 0.01,
      rssEveryMs: 100,
    },
    W6: {
      clients: 1000,
      channels: 20,
      ratePerSec: 200,
      clientProcesses: 2,
      liveMs: 1000,
      settleMs: 2000,
      stormTimeoutMs: 30_000,
      tailMs: 500,
      drainMs: 10_000,
    },
    W3b: { connections: 3000, channels: 100, workers: 2, clientProcesses: 2, settleMs: 300 },
  },
};

/** A load-generator process using more than this share of one core makes a run invalid. */
export const LOADGEN_CPU_LIMIT_PCT = 90;
/** No client process is given more sockets than this. */
export const MAX_SOCKETS_PER_CLIENT_PROCESS = 5000;
