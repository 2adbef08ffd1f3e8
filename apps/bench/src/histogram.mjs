/**
 * Latency histograms: HDR histograms (hdr-histogram-js, pure JS) recording microseconds,
 * 3 significant digits. Each load-generator process records its own, ships it to the harness
 * encoded (compressed base64), and the harness merges them before taking percentiles.
 */
import * as hdr from 'hdr-histogram-js';

/** Largest latency we keep exactly (values above are clamped): 10 minutes, in µs. */
export const MAX_TRACKABLE_US = 10 * 60 * 1_000_000;

/** @typedef {import('hdr-histogram-js').Histogram} Histogram */

/** @returns {Histogram} */
export function createHistogram() {
  return hdr.build({
    bitBucketSize: 'packed',
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/**
 * Record one latency given in milliseconds (fractional). Negative values (clock noise between processes)
 * are recorded as 0 µs; values beyond the trackable range are clamped, never dropped.
 * @param {Histogram} histogram
 * @param {number} latencyMs
 */
export function recordMs(histogram, latencyMs) {
  let us = Math.round(latencyMs * 1000);
  if (!(us > 0)) us = 0;
  else if (us > MAX_TRACKABLE_US) us = MAX_TRACKABLE_US;
  histogram.recordValue(us);
}

/** @param {Histogram} histogram @returns {string} */
export function encodeHistogram(histogram) {
  return hdr.encodeIntoCompressedBase64(histogram);
}

/** @param {string} encoded @returns {Histogram} */
export function decodeHistogram(encoded) {
  return hdr.decodeFromCompressedBase64(encoded, 'packed', false);
}

/**
 * Merge encoded histograms (one per load-generator process) into one.
 * @param {string[]} encoded
 * @returns {Histogram}
 */
export function mergeEncoded(encoded) {
  const merged = createHistogram();
  for (const e of encoded) merged.add(decodeHistogram(e));
  return merged;
}

/**
 * @typedef {{ count: number, p50Ms: number, p90Ms: number, p99Ms: number, p999Ms: number, maxMs: number, meanMs: number }} LatencySummary
 */

/**
 * Percentiles in milliseconds (3 decimals, i.e. µs resolution).
 * @param {Histogram} histogram
 * @returns {LatencySummary}
 */
export function summarize(histogram) {
  const ms = (/** @type {number} */ us) => Math.round(us) / 1000;
  const count = histogram.totalCount;
  if (count === 0) return { count: 0, p50Ms: NaN, p90Ms: NaN, p99Ms: NaN, p999Ms: NaN, maxMs: NaN, meanMs: NaN };
  return {
    count,
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p90Ms: ms(histogram.getValueAtPercentile(90)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    p999Ms: ms(histogram.getValueAtPercentile(99.9)),
    maxMs: ms(histogram.maxValue),
    meanMs: ms(histogram.mean),
  };
}
