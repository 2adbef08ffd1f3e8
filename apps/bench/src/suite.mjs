/**
 * Runs the selected workloads against the selected peers and shapes the results object that is written to
 * results/latest.json. Repeated runs are interleaved across peers (A B C A B C …) so that drift of a shared
 * machine spreads over every peer instead of favouring one.
 */
import { WORKLOADS } from './workloads/index.mjs';
import { runThroughput, round3 } from './workloads/w1.mjs';
import { runLatencyOnce, combineLatencyRuns } from './workloads/w2.mjs';
import { runIdleMemory } from './workloads/w3.mjs';
import { runCrossNodeOnce, combineCrossNode, probeBrokers } from './workloads/w4.mjs';
import { runSlowConsumersOnce, combineSlowConsumerRuns } from './workloads/w5.mjs';
import { runReconnectStorm } from './workloads/w6.mjs';
import { runClusterMemory } from './workloads/w3b.mjs';
import { loadPeer } from './peers/index.mjs';
import { combineVerdicts, median, FOREIGN_CPU_WARN_PCT } from './validity.mjs';
import { waitForQuiet } from './load.mjs';
import { W2_RATE_REFERENCE } from './peers/index.mjs';

/**
 * @typedef {object} SuiteOptions
 * @property {'full' | 'quick'} mode
 * @property {import('./config.mjs').ModeParams} params
 * @property {Array<{ key: string, spec: string }>} peers `key` names the peer in the results, `spec` is what
 *   the server process loads (the same registry key, or a peer module's file URL)
 * @property {string[]} workloads keys, in any order (run in registry order)
 * @property {number | undefined} repeat overrides the per-workload repeat count
 * @property {number | undefined} w2Rate messages/s for W2 (skips the calibration)
 * @property {import('./workloads/context.mjs').RunContext['layout']} layout
 * @property {import('./workloads/context.mjs').RunContext['sourceAddresses']} sourceAddresses
 * @property {(line: string) => void} log
 * @property {{ maxWaitMs: number, retries: number, budgetMs: number }} [quiet] before each run wait up to
 *   `maxWaitMs` for other processes to leave the machine, and repeat a run invalidated only by a busy machine
 *   up to `retries` times, while the suite has spent less than `budgetMs` on waiting and repeating
 */

/**
 * Run `attempt` after waiting for a quiet machine; repeat it while its only invalidity reasons are a busy
 * machine, up to `quiet.retries` times. The last attempt's result is kept.
 * @template {{ reasons: string[] }} T
 * @param {SuiteOptions} o
 * @param {() => Promise<T>} attempt
 * @returns {Promise<T & { retriedBusy?: number }>}
 */
async function runWhenQuiet(o, attempt) {
  const q = o.quiet;
  const budgetLeft = () => (q ? q.budgetMs - quietSpentMs : 0);
  for (let i = 0; ; i++) {
    if (q && q.maxWaitMs > 0 && budgetLeft() > 0) {
      const waited = await waitForQuiet({
        thresholdPct: FOREIGN_CPU_WARN_PCT,
        maxWaitMs: Math.min(q.maxWaitMs, budgetLeft()),
        log: o.log,
      });
      quietSpentMs += waited.waitedMs;
    }
    const t0 = Date.now();
    const r = await attempt();
    const onlyBusy = r.reasons.length > 0 && r.reasons.every((x) => x.startsWith('machine busy'));
    if (!onlyBusy || i >= (q?.retries ?? 0) || budgetLeft() <= 0) {
      if (onlyBusy && q && q.budgetMs > 0 && budgetLeft() <= 0 && !budgetSpentLogged) {
        budgetSpentLogged = true;
        o.log(
          `  (the suite's ${Math.round(q.budgetMs / 1000)} s budget for waiting out other load is spent: no more waiting or repeating)`,
        );
      }
      return i > 0 ? Object.assign(r, { retriedBusy: i }) : r;
    }
    quietSpentMs += Date.now() - t0;
    o.log(`  ${r.reasons.join('; ')}: running it again`);
  }
}
let quietSpentMs = 0;
let budgetSpentLogged = false;

/** @param {unknown} err */
const message = (err) => (err instanceof Error ? err.message : String(err));

/**
 * Median of repeated W1 runs. Runs that are invalid (or threw) are excluded when at least one valid run
 * exists: the result is then the median of the valid runs and says how many were excluded and why. Only
 * when no run is valid is the median of all runs reported, marked invalid.
 * @param {Array<Awaited<ReturnType<typeof runThroughput>> | { error: string }>} runs
 */
export function combineThroughputRuns(runs) {
  const ok = /** @type {Awaited<ReturnType<typeof runThroughput>>[]} */ (runs.filter((r) => !('error' in r)));
  const failed = runs.filter((r) => 'error' in r).map((r) => /** @type {{ error: string }} */ (r).error);
  const valid = ok.filter((r) => r.valid);
  const used = valid.length > 0 ? valid : ok;
  const excluded = [...ok.filter((r) => !r.valid).flatMap((r) => r.reasons), ...failed.map((e) => `run failed: ${e}`)];
  const verdict =
    valid.length > 0
      ? {
          valid: true,
          reasons: [],
          warnings: [
            ...new Set([
              ...valid.flatMap((r) => r.warnings),
              ...(excluded.length
                ? [
                    `${runs.length - valid.length} of ${runs.length} runs excluded as invalid (${[...new Set(excluded)].join('; ')})`,
                  ]
                : []),
            ]),
          ],
        }
      : combineVerdicts([
          ...ok.map((r) => ({ valid: r.valid, reasons: r.reasons, warnings: r.warnings })),
          ...failed.map((e) => ({ valid: false, reasons: [`run failed: ${e}`], warnings: [] })),
        ]);
  return {
    deliveriesPerSec: Math.round(median(used.map((r) => r.deliveriesPerSec))),
    cpuSecPerMillion: round3(median(used.map((r) => r.cpuSecPerMillion))),
    ...verdict,
    details: {
      runs: ok.map((r) => ({
        deliveriesPerSec: r.deliveriesPerSec,
        cpuSecPerMillion: r.cpuSecPerMillion,
        valid: r.valid,
        usedInMedian: used.includes(r),
        reasons: r.reasons,
        warnings: r.warnings,
        ...r.details,
        retriedBecauseBusy: /** @type {{ retriedBusy?: number }} */ (r).retriedBusy ?? 0,
      })),
      failedRuns: failed,
    },
  };
}

/**
 * @param {SuiteOptions} o
 * @returns {Promise<{ workloads: Record<string, Record<string, any>>, w2Rate: { ratePerSec: number, source: string } | null }>}
 */
export async function runSuite(o) {
  /** @type {import('./workloads/context.mjs').RunContext} */
  const ctx = { mode: o.mode, params: o.params, layout: o.layout, sourceAddresses: o.sourceAddresses, log: o.log };
  /** @type {Record<string, Record<string, any>>} */
  const workloads = {};
  /** @type {{ ratePerSec: number, source: string } | null} */
  let w2Rate = null;

  /** @type {Map<string, import('./peers/types.mjs').Peer>} */
  const meta = new Map();
  for (const peer of o.peers) meta.set(peer.key, await loadPeer(peer.spec));
  for (const def of WORKLOADS) {
    if (!o.workloads.includes(def.key)) continue;
    const p = def.params(o.params);
    // a peer made for some workloads only (socketio-streams: W6) is left out of the others
    const here = o.peers.filter((peer) => {
      const only = meta.get(peer.key)?.only;
      return !only || only.includes(def.key);
    });
    /** @type {Record<string, any>} */
    const out = {};
    workloads[def.key] = out;

    if (def.kind === 'throughput') {
      const repeat = o.repeat ?? p.repeat;
      /** @type {Record<string, any[]>} */
      const runs = Object.fromEntries(here.map((k) => [k.key, []]));
      for (let rep = 0; rep < repeat; rep++) {
        for (const { key: peer, spec } of here) {
          o.log(
            `${def.key} ${peer} run ${rep + 1}/${repeat}: ${p.channels} channel(s) × ${p.perChannel} subscribers, ${p.durationMs} ms`,
          );
          try {
            const r = await runWhenQuiet(o, () => runThroughput(ctx, spec, p));
            /** @type {any[]} */ (runs[peer]).push(r);
            o.log(
              `  ${r.deliveriesPerSec.toLocaleString('en-US')} deliveries/s, ${r.cpuSecPerMillion} CPU-s/1M, ` +
                `server ${r.details.serverCpuPctWhilePublishing}% clients ${r.details.clientCpuPct.join('/')}%` +
                `${r.valid ? '' : `  INVALID: ${r.reasons.join('; ')}`}${r.warnings.length ? `  (${r.warnings.join('; ')})` : ''}`,
            );
          } catch (err) {
            o.log(`  FAILED: ${message(err)}`);
            /** @type {any[]} */ (runs[peer]).push({ error: message(err) });
          }
        }
      }
      for (const { key: peer } of here) out[peer] = combineThroughputRuns(/** @type {any[]} */ (runs[peer]));
    }

    if (def.kind === 'latency') {
      w2Rate = await resolveW2Rate(o, ctx, workloads);
      const rate = w2Rate.ratePerSec;
      o.log(`W2 publish rate: ${rate.toFixed(1)} msg/s (${w2Rate.source})`);
      const runs = await runLatencyJobs(
        o,
        o.repeat ?? p.repeat,
        here.map(({ key: peer, spec }) => ({
          key: peer,
          label: `W2 ${peer}`,
          what: `${p.perChannel} subscribers, ${rate.toFixed(1)} msg/s, ${p.durationMs} ms`,
          run: () => runLatencyOnce(ctx, spec, p, rate),
        })),
      );
      for (const { key: peer } of here) {
        out[peer] = combineLatencyRuns(/** @type {any[]} */ (runs[peer]));
        out[peer].details.ratePerSec = round3(rate);
        out[peer].details.rateSource = w2Rate.source;
      }
    }

    if (def.kind === 'crossnode') {
      const capable = [];
      for (const peer of here) {
        const backends = meta.get(peer.key)?.crossNode ?? [];
        if (backends.length) capable.push({ ...peer, backends });
      }
      const unreachable = await probeBrokers();
      for (const why of Object.values(unreachable)) if (why) o.log(`W4: ${why}; its runs are skipped`);
      o.log(
        `W4 peers that run across nodes: ${capable.map((c) => `${c.key} (${c.backends.join(', ')})`).join(', ') || 'none selected'}`,
      );
      const jobs = capable.flatMap(({ key: peer, spec, backends }) =>
        ['same', ...backends.filter((b) => !unreachable[b])].map((backend) => ({
          key: `${peer}\u0000${backend}`,
          label: `W4 ${peer} ${backend === 'same' ? 'same node' : `across 2 nodes on ${backend}`}`,
          what: `${p.perChannel} subscribers, ${p.ratePerSec} msg/s, ${p.durationMs} ms`,
          run: () => runCrossNodeOnce(ctx, spec, p, /** @type {'same' | 'redis' | 'kafka'} */ (backend)),
        })),
      );
      const runs = await runLatencyJobs(o, o.repeat ?? p.repeat, jobs);
      for (const { key: peer, backends } of capable) {
        /** @type {Record<string, any[]>} */
        const byBackend = {};
        for (const [k, list] of Object.entries(runs)) {
          const [jobPeer, backend] = k.split('\u0000');
          if (jobPeer === peer) byBackend[/** @type {string} */ (backend)] = list;
        }
        /** @type {Record<string, string>} */
        const skipped = {};
        for (const b of backends) if (unreachable[b]) skipped[b] = /** @type {string} */ (unreachable[b]);
        out[peer] = combineCrossNode(byBackend, skipped);
        o.log(
          `W4 ${peer}: added by Redis p50 ${out[peer].addedP50Ms} ms p99 ${out[peer].addedP99Ms} ms; by Kafka p50 ${out[peer].kafkaAddedP50Ms} ms p99 ${out[peer].kafkaAddedP99Ms} ms`,
        );
      }
    }

    if (def.kind === 'slow') {
      w2Rate = w2Rate ?? (await resolveW2Rate(o, ctx, workloads));
      const rate = w2Rate.ratePerSec;
      const runs = await runLatencyJobs(
        o,
        o.repeat ?? p.repeat,
        here.map(({ key: peer, spec }) => ({
          key: peer,
          label: `W5 ${peer}`,
          what: `${p.perChannel} subscribers (${Math.round(p.slowFraction * 100)}% stop reading), ${rate.toFixed(1)} msg/s, ${p.durationMs} ms`,
          run: () => runSlowConsumersOnce(ctx, spec, p, rate),
        })),
      );
      for (const { key: peer } of here) {
        out[peer] = combineSlowConsumerRuns(/** @type {any[]} */ (runs[peer]), workloads.W2?.[peer]?.p99Ms);
        out[peer].details.ratePerSec = round3(rate);
        const mib = (/** @type {number} */ b) => (b / 2 ** 20).toFixed(1);
        o.log(
          `W5 ${peer}: p99 ${out[peer].p99Ms} ms = ${out[peer].p99VsW2}× W2; RSS +${mib(out[peer].rssGrowthBytes)} MiB over the window, ` +
            `+${mib(out[peer].rssSecondHalfGrowthBytes)} MiB in its second half`,
        );
      }
    }

    if (def.kind === 'memory') {
      for (const { key: peer, spec } of here) {
        o.log(`W3 ${peer}: ${p.connections} idle connections over ${p.channels} channels`);
        try {
          const r = await runWhenQuiet(o, () => runIdleMemory(ctx, spec, p));
          out[peer] = r;
          o.log(
            `  heap ${r.heapBytesPerConn} B/conn, RSS ${r.rssBytesPerConn} B/conn (connected in ${r.details.connectMs} ms)` +
              `${r.valid ? '' : `  INVALID: ${r.reasons.join('; ')}`}`,
          );
        } catch (err) {
          o.log(`  FAILED: ${message(err)}`);
          out[peer] = {
            heapBytesPerConn: NaN,
            rssBytesPerConn: NaN,
            valid: false,
            reasons: [`run failed: ${message(err)}`],
            warnings: [],
          };
        }
      }
    }

    if (def.kind === 'storm') {
      for (const { key: peer, spec } of here.filter((x) => meta.get(x.key)?.storm)) {
        o.log(
          `W6 ${peer}: ${p.clients} clients on node A over ${p.channels} channels, ${p.ratePerSec} msg/s published on node B; SIGKILL A`,
        );
        try {
          const r = await runWhenQuiet(o, () => runReconnectStorm(ctx, spec, p));
          out[peer] = r;
          o.log(
            `  recovered ${r.recoveredPct}%: 99% after ${r.p99RecoveredMs} ms, 100% after ${r.allRecoveredMs} ms ` +
              `(resubscribed: 99% ${r.p99ResumedMs} ms); lost ${r.lost}, duplicated ${r.duplicated}; node B CPU ` +
              `${r.nodeBCpuSec} s, loop delay p99 ${r.nodeBLoopDelayP99Ms} ms max ${r.nodeBLoopDelayMaxMs} ms; ` +
              `Redis ${r.redisCommands} commands${r.valid ? '' : `  INVALID: ${r.reasons.join('; ')}`}`,
          );
        } catch (err) {
          o.log(`  FAILED: ${message(err)}`);
          out[peer] = { valid: false, reasons: [`run failed: ${message(err)}`], warnings: [] };
        }
      }
    }

    if (def.kind === 'cluster-memory') {
      for (const { key: peer, spec } of here.filter((x) => meta.get(x.key)?.cluster)) {
        o.log(`W3b ${peer}: ${p.connections} idle connections over ${p.workers} node:cluster workers`);
        try {
          const r = await runWhenQuiet(o, () => runClusterMemory(ctx, spec, p));
          // the single-process figure of this run's W3, or a W3 run of this peer now
          let w3 = workloads.W3?.[peer];
          if (!w3) {
            o.log(`  W3 baseline for ${peer}: ${o.params.W3.connections} idle connections in one process`);
            w3 = await runIdleMemory(ctx, spec, o.params.W3);
          }
          r.heapVsW3 = round3(r.heapBytesPerConn / w3.heapBytesPerConn);
          Object.assign(r.details, { w3HeapBytesPerConn: w3.heapBytesPerConn, w3Valid: w3.valid });
          out[peer] = r;
          o.log(
            `  heap ${r.heapBytesPerConn} B/conn (${Number.isFinite(r.heapVsW3) ? `${r.heapVsW3}× W3` : 'no W3 in this run'}), ` +
              `RSS ${r.rssBytesPerConn} B/conn, all accepted in ${r.acceptMs} ms${r.valid ? '' : `  INVALID: ${r.reasons.join('; ')}`}`,
          );
        } catch (err) {
          o.log(`  FAILED: ${message(err)}`);
          out[peer] = { valid: false, reasons: [`run failed: ${message(err)}`], warnings: [] };
        }
      }
    }
  }
  return { workloads, w2Rate };
}

/**
 * Run latency jobs (W2, W4, W5) `repeat` times, interleaved (job A B C A B C …), each after waiting for a quiet
 * machine. A job that throws is recorded as an invalid run (no histogram) so the combined result says why.
 * @param {SuiteOptions} o
 * @param {number} repeat
 * @param {Array<{ key: string, label: string, what: string, run: () => Promise<Awaited<ReturnType<typeof runLatencyOnce>>> }>} jobs
 * @returns {Promise<Record<string, Array<Awaited<ReturnType<typeof runLatencyOnce>>>>>} the runs of each job key
 */
async function runLatencyJobs(o, repeat, jobs) {
  /** @type {Record<string, any[]>} */
  const runs = Object.fromEntries(jobs.map((j) => [j.key, []]));
  for (let rep = 0; rep < repeat; rep++) {
    for (const job of jobs) {
      o.log(`${job.label} run ${rep + 1}/${repeat}: ${job.what}`);
      try {
        const r = await runWhenQuiet(o, async () => {
          const x = await job.run();
          return Object.assign(x, { reasons: x.verdict.reasons });
        });
        Object.assign(r.details, { retriedBecauseBusy: r.retriedBusy ?? 0 });
        /** @type {any[]} */ (runs[job.key]).push(r);
        const s = combineLatencyRuns([r]);
        o.log(
          `  p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, p99.9 ${s.p999Ms} ms; server lag max ${r.details.serverMaxLagMs} ms, ` +
            `clients ${r.details.clientCpuPct.join('/')}%${r.verdict.valid ? '' : `  INVALID: ${r.verdict.reasons.join('; ')}`}` +
            `${r.verdict.warnings.length ? `  (${r.verdict.warnings.join('; ')})` : ''}`,
        );
      } catch (err) {
        o.log(`  FAILED: ${message(err)}`);
        /** @type {any[]} */ (runs[job.key]).push({
          histograms: [],
          verdict: { valid: false, reasons: [`run failed: ${message(err)}`], warnings: [] },
          details: { error: message(err) },
        });
      }
    }
  }
  return runs;
}

/**
 * W2 publishes at half of what raw ws (naive) sustains in W1 with one channel: W1 deliveries/s ÷ subscribers
 * ÷ 2 messages per second. Taken from this run's W1 if it measured ws-naive, else from `--w2-rate`, else
 * measured now with one W1 run of ws-naive at W2's subscriber count.
 * @param {SuiteOptions} o
 * @param {import('./workloads/context.mjs').RunContext} ctx
 * @param {Record<string, Record<string, any>>} workloads
 */
async function resolveW2Rate(o, ctx, workloads) {
  if (o.w2Rate) return { ratePerSec: o.w2Rate, source: '--w2-rate' };
  const p1 = o.params.W1;
  const p2 = o.params.W2;
  const measured = workloads.W1?.[W2_RATE_REFERENCE];
  if (measured && measured.deliveriesPerSec > 0 && p1.perChannel === p2.perChannel) {
    return {
      ratePerSec: measured.deliveriesPerSec / p1.perChannel / 2,
      source: `half of ${W2_RATE_REFERENCE} W1 (${measured.deliveriesPerSec} deliveries/s ÷ ${p1.perChannel} subscribers)`,
    };
  }
  o.log(`W2 calibration: one W1 run of ${W2_RATE_REFERENCE} with ${p2.perChannel} subscribers`);
  const r = await runThroughput(ctx, W2_RATE_REFERENCE, { ...p1, channels: 1, perChannel: p2.perChannel, repeat: 1 });
  if (!(r.deliveriesPerSec > 0)) throw new Error(`W2 calibration failed: ${W2_RATE_REFERENCE} delivered nothing`);
  return {
    ratePerSec: r.deliveriesPerSec / p2.perChannel / 2,
    source: `half of a calibration W1 run of ${W2_RATE_REFERENCE} (${r.deliveriesPerSec} deliveries/s ÷ ${p2.perChannel} subscribers${r.valid ? '' : ', INVALID run'})`,
  };
}
