/**
 * W2 latency: one channel, a fixed publish rate, publish→receive latency from the *scheduled* send time
 * carried in the payload. Each client process records an HDR histogram; the harness merges them.
 *
 * The same run, with options, is W4 (publisher and subscribers on two server processes joined by a broker) and
 * W5 (a share of the subscribers stop reading; the server's RSS is sampled). One latency runner for all three.
 */
import { System, assignSubscriptions } from '../system.mjs';
import { loadPeer } from '../peers/index.mjs';
import { BENCH_CHANNEL } from '../payload.mjs';
import { wallNowMs, sleep } from '../clock.mjs';
import { brokerPids } from '../load.mjs';
import { assessRun, combineVerdicts } from '../validity.mjs';
import { mergeEncoded, summarize } from '../histogram.mjs';
import { round3 } from './w1.mjs';

/**
 * @typedef {object} LatencyRunOptions
 * @property {Array<{ broker?: import('../peers/types.mjs').BenchBroker }>} [nodes] server processes (W4: two on a
 *   broker; the publisher is the first, the subscribers connect to the last)
 * @property {number} [settleMs] pause between the last subscription and the first publish (cross-node
 *   subscriptions propagate; a Kafka consumer gets its partitions)
 * @property {number} [slowFraction] W5: this share of the subscribers (at least one) stop reading when the
 *   recorded window starts; they are left out of the latencies and of the expected deliveries
 * @property {number} [rssEveryMs] sample the publishing server's RSS this often during the run (W5)
 * @property {number} [measured] W4: only this many subscribers (spread over the client processes) are measured; the
 *   others are sinks that read every byte the server writes without parsing it, so the load generator's one core is
 *   not saturated (a saturated baseline would inflate the same-node latency and hide what the broker adds). `ws`
 *   protocol peers only; the others measure every subscriber
 */

/**
 * One latency run; returns the raw histograms so repeated runs can be merged.
 * @param {import('./context.mjs').RunContext} ctx
 * @param {string} peerKey
 * @param {import('../config.mjs').LatencyParams} p
 * @param {number} rate messages per second on the channel
 * @param {LatencyRunOptions} [options]
 */
export async function runLatencyOnce(ctx, peerKey, p, rate, options = {}) {
  const peer = await loadPeer(peerKey);
  const perProcess = assignSubscriptions([BENCH_CHANNEL], p.perChannel, p.clientProcesses);
  const system = await System.start({
    peer: peerKey,
    protocol: peer.protocol,
    layout: ctx.layout,
    sourceAddresses: ctx.sourceAddresses(p.clientProcesses),
    ...(options.nodes ? { nodes: options.nodes } : {}),
  });
  try {
    const connect = await system.connect(perProcess);
    if (connect.connected === 0) throw new Error(`no client connected: ${connect.errors.join('; ')}`);
    if (options.settleMs) await sleep(options.settleMs);
    const startAt = wallNowMs() + 300;
    const from = startAt + p.warmupMs;
    const until = from + p.durationMs;
    const slowTotal = options.slowFraction ? Math.max(1, Math.round(connect.connected * options.slowFraction)) : 0;
    // spread the slow consumers over the client processes as evenly as the sockets are
    const slowPer = system.clients.map(
      (_, i) => Math.floor(slowTotal / system.clients.length) + (i < slowTotal % system.clients.length ? 1 : 0),
    );
    const sinking = options.measured !== undefined && peer.protocol === 'ws' && options.measured < connect.connected;
    const measuredTotal = sinking ? Math.max(1, /** @type {number} */ (options.measured)) : connect.connected;
    // the measured subscribers spread over the client processes like the sockets are
    const measuredPer = system.clients.map(
      (_, i) => Math.floor(measuredTotal / system.clients.length) + (i < measuredTotal % system.clients.length ? 1 : 0),
    );
    await Promise.all(
      system.clients.map((c, i) =>
        c.request('measure', {
          mode: 'latency',
          from,
          until,
          slow: slowPer[i],
          ...(sinking ? { measured: measuredPer[i] } : {}),
        }),
      ),
    );
    // a broker's CPU (W4) is part of the system under test, not other load on the machine
    const window = system.sampleWindow(from, until, options.nodes?.some((n) => n.broker) ? brokerPids() : []);
    const rss = options.rssEveryMs ? sampleRss(system.server, from, until, options.rssEveryMs) : null;
    const pub = await system.server.request(
      'w2',
      { channel: BENCH_CHANNEL, startAt, durationMs: p.warmupMs + p.durationMs, rate },
      p.warmupMs + p.durationMs + 120_000,
    );
    const expected = pub.published * ((sinking ? measuredTotal : connect.connected) - slowTotal);
    const drain = await system.drain(expected, { timeoutMs: 60_000 });
    const reports = await system.reports();
    const received = reports.reduce((s, r) => s + r.received, 0);
    const closedUnexpectedly = reports.reduce((s, r) => s + r.closedUnexpectedly, 0);
    const sinks = reports.reduce((s, r) => s + (r.sinks ?? 0), 0);
    const sinkBytes = reports.reduce((s, r) => s + (r.sinkBytes ?? 0), 0);
    const rssSummary = rss ? summarizeRss(await rss) : null;
    // The server's user CPU covers warm-up + window; scale it to the recorded window.
    const serverUserInWindow = pub.userSec * (p.durationMs / (p.warmupMs + p.durationMs));
    const machineLoad = (await window).foreign(serverUserInWindow + reports.reduce((s, r) => s + r.cpuUserSec, 0));
    const verdict = assessRun({
      clientCpuPct: reports.map((r) => r.cpuPct),
      layout: ctx.layout,
      connectFailed: connect.failed,
      closedUnexpectedly,
      // a sink that got less than the payload bytes of every message cannot have received them all
      drops: Math.max(0, expected - received) + (sinks > 0 && sinkBytes < sinks * pub.published * 100 ? 1 : 0),
      drainTimedOut: drain.timedOut,
      machineLoad,
    });
    return {
      histograms: /** @type {string[]} */ (reports.map((r) => r.histogram).filter(Boolean)),
      verdict,
      details: {
        subscribers: connect.connected,
        ratePerSec: round3(rate),
        published: pub.published,
        expected,
        received,
        recorded: reports.reduce((s, r) => s + r.recorded, 0),
        serverMaxLagMs: round3(pub.maxLagMs),
        serverCpuPct: Math.round(pub.cpuPct),
        clientCpuPct: reports.map((r) => Math.round(r.cpuPct)),
        closedUnexpectedly,
        machineLoad,
        ...(sinking ? { measuredSubscribers: measuredTotal, sinkSubscribers: sinks, sinkBytes } : {}),
        ...(slowTotal
          ? { slowSubscribers: slowTotal, slowClosedByServer: reports.reduce((s, r) => s + r.slowClosed, 0) }
          : {}),
        ...(rssSummary ? { rss: rssSummary } : {}),
      },
    };
  } finally {
    await system.stop();
  }
}

/**
 * Combine repeated runs of one peer: the histograms of the valid runs are merged (as W1 takes the median of the
 * valid runs). Only when no run is valid are all runs merged, and the result is marked invalid.
 * @param {Awaited<ReturnType<typeof runLatencyOnce>>[]} runs
 */
export function combineLatencyRuns(runs) {
  const valid = runs.filter((r) => r.verdict.valid);
  const used = valid.length > 0 ? valid : runs;
  const summary = summarize(mergeEncoded(used.flatMap((r) => r.histograms)));
  const excluded = runs.length - used.length;
  const verdict =
    valid.length > 0
      ? {
          valid: true,
          reasons: [],
          warnings: [
            ...new Set([
              ...valid.flatMap((r) => r.verdict.warnings),
              ...(excluded > 0
                ? [
                    `${excluded} of ${runs.length} runs excluded as invalid (${[...new Set(runs.filter((r) => !r.verdict.valid).flatMap((r) => r.verdict.reasons))].join('; ')})`,
                  ]
                : []),
            ]),
          ],
        }
      : combineVerdicts(runs.map((r) => r.verdict));
  return {
    p50Ms: summary.p50Ms,
    p99Ms: summary.p99Ms,
    p999Ms: summary.p999Ms,
    ...verdict,
    details: {
      ...summary,
      runs: runs.map((r) => ({ ...r.details, valid: r.verdict.valid, merged: used.includes(r) })),
    },
  };
}

/**
 * Sample a server process's RSS every `everyMs` over [from, until).
 * @param {import('../proc.mjs').Child} server
 * @param {number} from
 * @param {number} until
 * @param {number} everyMs
 * @returns {Promise<Array<{ at: number, rss: number }>>} `at`: ms since `from`
 */
async function sampleRss(server, from, until, everyMs) {
  /** @type {Array<{ at: number, rss: number }>} */
  const samples = [];
  await sleep(Math.max(0, from - wallNowMs()));
  while (wallNowMs() < until) {
    const at = wallNowMs() - from;
    samples.push({ at, rss: await server.request('rss', {}, 5_000) });
    await sleep(everyMs);
  }
  return samples;
}

/**
 * RSS over the recorded window: where it started, its peak, where it ended, and how much it still grew in the
 * second half of the window (a bounded server has stopped growing by then).
 * @param {Array<{ at: number, rss: number }>} samples
 */
export function summarizeRss(samples) {
  if (samples.length === 0)
    return { startBytes: NaN, maxBytes: NaN, endBytes: NaN, growthBytes: NaN, secondHalfGrowthBytes: NaN, samples: 0 };
  const rss = samples.map((s) => s.rss);
  const half = Math.floor(samples.length / 2);
  const maxOf = (/** @type {number[]} */ xs) => xs.reduce((m, x) => Math.max(m, x), -Infinity);
  const first = /** @type {number} */ (rss[0]);
  const max = maxOf(rss);
  return {
    startBytes: first,
    maxBytes: max,
    endBytes: /** @type {number} */ (rss[rss.length - 1]),
    growthBytes: max - first,
    secondHalfGrowthBytes: half > 0 ? Math.max(0, maxOf(rss.slice(half)) - maxOf(rss.slice(0, half))) : 0,
    samples: samples.length,
  };
}
