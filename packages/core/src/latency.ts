import { CircularBuffer } from '@unisocket/memory';

/**
 * Upper bounds (ms) of the publish→flush latency buckets kept by {@link LatencyRecorder}: what Prometheus exposes
 * as `unisocket_publish_latency_seconds_bucket` (in seconds).
 */
export const DEFAULT_LATENCY_BUCKETS_MS: readonly number[] = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000,
];

/** Options of {@link LatencyRecorder}. */
export interface LatencyRecorderOptions {
  /**
   * How many recent samples the ring keeps (for averages and percentiles over a recent window).
   * @default 1_024
   */
  samples?: number;
  /**
   * Bucket upper bounds in ms, strictly increasing.
   * @default DEFAULT_LATENCY_BUCKETS_MS
   */
  bucketsMs?: readonly number[];
}

/**
 * Publish→flush latency, one sample per flushed batch (never per message or per delivery).
 *
 * The Hub records, for each batch it writes to a channel's live subscribers, `flush time - ts` of the batch's oldest
 * message, where `ts` is the publish time stamped into the message by `Hub.publish` on the publishing node
 * (`Date.now()`, ms resolution: `0` means under a millisecond). It covers the broker's transit (and, across
 * nodes, their clock skew; negative values count as 0), time waiting for the coalescing flush and any event-loop
 * delay, up to the moment the batch is handed to the transports' sockets. It does not include the network to
 * the client.
 *
 * Kept two ways, both bounded and allocation-free per sample: exact cumulative bucket counts, sum and count since
 * start (a Prometheus histogram), and a ring of the most recent samples (averages and percentiles over a window).
 * Monitoring reads both at scrape time.
 */
export class LatencyRecorder {
  /** Bucket upper bounds, ms. */
  readonly bucketsMs: readonly number[];
  /**
   * Samples per bucket (not cumulative): slot `i` counts samples in `(bucketsMs[i-1], bucketsMs[i]]`; the last
   * slot counts samples above the last bound.
   */
  readonly bucketCounts: Float64Array;
  /** The most recent samples, ms, oldest first. */
  readonly recent: CircularBuffer<number>;
  /** Samples since start. */
  count = 0;
  /** Sum of every sample since start, ms. */
  sumMs = 0;
  /** The largest sample since start, ms. */
  maxMs = 0;

  constructor(options: LatencyRecorderOptions = {}) {
    const samples = options.samples ?? 1_024;
    if (!Number.isInteger(samples) || samples < 1) {
      throw new TypeError(`latency samples must be a positive integer, got ${String(options.samples)}`);
    }
    const bounds = options.bucketsMs ?? DEFAULT_LATENCY_BUCKETS_MS;
    if (
      !Array.isArray(bounds) ||
      bounds.length === 0 ||
      bounds.some((b, i) => typeof b !== 'number' || !(b > 0) || !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!))
    ) {
      throw new TypeError('latency bucketsMs must be a non-empty array of strictly increasing positive numbers');
    }
    this.bucketsMs = [...bounds];
    this.bucketCounts = new Float64Array(bounds.length + 1);
    this.recent = new CircularBuffer<number>(samples);
  }

  /** Records one sample, in ms. */
  record(ms: number): void {
    const value = Math.max(ms, 0);
    const bounds = this.bucketsMs;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.bucketCounts[i]!++;
    this.count++;
    this.sumMs += value;
    if (value > this.maxMs) this.maxMs = value;
    this.recent.push(value);
  }
}
