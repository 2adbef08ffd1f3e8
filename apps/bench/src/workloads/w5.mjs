/**
 * W5 slow consumers: W2 (same subscribers, same rate) with 1% of the subscribers whose TCP sockets stop reading
 * when the recorded window starts. What counts: the server's RSS stays bounded (it has stopped growing by the
 * second half of the window) and the other subscribers' p99 stays within 2× of this run's W2 p99 for the same peer.
 * The latency run is W2's (`runLatencyOnce` with `slowFraction` and RSS sampling).
 */
import { combineLatencyRuns, runLatencyOnce } from './w2.mjs';
import { round3 } from './w1.mjs';

/**
 * One W5 run.
 * @param {import('./context.mjs').RunContext} ctx
 * @param {string} peerKey
 * @param {import('../config.mjs').SlowConsumerParams} p
 * @param {number} rate the W2 rate
 */
export function runSlowConsumersOnce(ctx, peerKey, p, rate) {
  return runLatencyOnce(ctx, peerKey, p, rate, { slowFraction: p.slowFraction, rssEveryMs: p.rssEveryMs });
}

/**
 * A peer's W5 result: the fast subscribers' merged latency, its p99 over the peer's W2 p99 (NaN without W2 in the
 * run), and the server's RSS growth over the window, the largest of the runs used.
 * @param {Array<Awaited<ReturnType<typeof runLatencyOnce>>>} runs
 * @param {number | undefined} w2P99Ms this peer's W2 p99 in this run
 */
export function combineSlowConsumerRuns(runs, w2P99Ms) {
  const latency = combineLatencyRuns(runs);
  // the runs whose histograms were merged (the valid ones, or all when none is valid)
  const used = latency.details.runs.filter((r) => r.merged);
  const rss = used.flatMap((r) => (r.rss ? [r.rss] : []));
  const maxOf = (/** @type {number[]} */ xs) => (xs.length ? Math.max(...xs) : NaN);
  const ratio = typeof w2P99Ms === 'number' && w2P99Ms > 0 ? round3(latency.p99Ms / w2P99Ms) : NaN;
  return {
    ...latency,
    p99VsW2: ratio,
    rssGrowthBytes: maxOf(rss.map((x) => x.growthBytes)),
    rssSecondHalfGrowthBytes: maxOf(rss.map((x) => x.secondHalfGrowthBytes)),
    rssMaxBytes: maxOf(rss.map((x) => x.maxBytes)),
    warnings: [
      ...latency.warnings,
      ...(Number.isNaN(ratio)
        ? ['no W2 result for this peer in the run: p99VsW2 needs W2 (run --workloads W2,W5)']
        : []),
    ],
    details: {
      ...latency.details,
      w2P99Ms: w2P99Ms ?? null,
      slowSubscribers: used.map((r) => r.slowSubscribers ?? 0),
      slowClosedByServer: used.map((r) => r.slowClosedByServer ?? 0),
    },
  };
}
