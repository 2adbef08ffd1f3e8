/**
 * W2 latency: one channel, a fixed publish rate, publish→receive latency from the *scheduled* send time
 * carried in the payload. Each client process records an HDR histogram; the harness merges them.
 */
import { System, assignSubscriptions } from '../system.mjs';
import { loadPeer } from '../peers/index.mjs';
import { BENCH_CHANNEL } from '../payload.mjs';
import { wallNowMs } from '../clock.mjs';
import { assessRun, combineVerdicts } from '../validity.mjs';
import { mergeEncoded, summarize } from '../histogram.mjs';
import { round3 } from './w1.mjs';

/**
 * One latency run; returns the raw histograms so repeated runs can be merged.
 * @param {import('./context.mjs').RunContext} ctx
 * @param {string} peerKey
 * @param {import('../config.mjs').LatencyParams} p
 * @param {number} rate messages per second on the channel
 */
export async function runLatencyOnce(ctx, peerKey, p, rate) {
  const peer = await loadPeer(peerKey);
  const perProcess = assignSubscriptions([BENCH_CHANNEL], p.perChannel, p.clientProcesses);
  const system = await System.start({
    peer: peerKey,
    protocol: peer.protocol,
    layout: ctx.layout,
    sourceAddresses: ctx.sourceAddresses(p.clientProcesses),
  });
  try {
    const connect = await system.connect(perProcess);
    if (connect.connected === 0) throw new Error(`no client connected: ${connect.errors.join('; ')}`);
    const startAt = wallNowMs() + 300;
    const from = startAt + p.warmupMs;
    const until = from + p.durationMs;
    await system.measure('latency', from, until);
    const window = system.sampleWindow(from, until);
    const pub = await system.server.request(
      'w2',
      { channel: BENCH_CHANNEL, startAt, durationMs: p.warmupMs + p.durationMs, rate },
      p.warmupMs + p.durationMs + 120_000,
    );
    const expected = pub.published * connect.connected;
    const drain = await system.drain(expected, { timeoutMs: 60_000 });
    const reports = await system.reports();
    const received = reports.reduce((s, r) => s + r.received, 0);
    const closedUnexpectedly = reports.reduce((s, r) => s + r.closedUnexpectedly, 0);
    // The server's user CPU covers warm-up + window; scale it to the recorded window.
    const serverUserInWindow = pub.userSec * (p.durationMs / (p.warmupMs + p.durationMs));
    const machineLoad = (await window).foreign(serverUserInWindow + reports.reduce((s, r) => s + r.cpuUserSec, 0));
    const verdict = assessRun({
      clientCpuPct: reports.map((r) => r.cpuPct),
      layout: ctx.layout,
      connectFailed: connect.failed,
      closedUnexpectedly,
      drops: Math.max(0, expected - received),
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
                ? [`${excluded} of ${runs.length} runs excluded as invalid (${[...new Set(runs.filter((r) => !r.verdict.valid).flatMap((r) => r.verdict.reasons))].join('; ')})`]
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
    details: { ...summary, runs: runs.map((r) => ({ ...r.details, valid: r.verdict.valid, merged: used.includes(r) })) },
  };
}
