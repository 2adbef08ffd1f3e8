/**
 * One clock for every process of a run: high-resolution wall-clock milliseconds (with a µs fraction).
 * `performance.timeOrigin` is the wall-clock time at process start, `performance.now()` is monotonic since
 * then, so their sum is comparable across processes on one machine (to well under the latencies we measure).
 */
export function wallNowMs() {
  return performance.timeOrigin + performance.now();
}

/** @param {number} ms */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
