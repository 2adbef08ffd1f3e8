#!/usr/bin/env node
/**
 * unisocket benchmark harness.
 *
 *   pnpm bench                         full suite (the numbers that count; ~10 min for three peers)
 *   pnpm bench --quick                 smoke test, < 2 min
 *   pnpm bench --peers ws-naive,socketio --workloads W1,W3
 *
 * Writes results/latest.{json,md,svg} and archives the JSON to results/runs/<timestamp>.json.
 */
import { parseArgs } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { MODES } from './config.mjs';
import { PEER_KEYS, loadPeer, isPeerFile, peerFileUrl } from './peers/index.mjs';
import { DEFAULT_WORKLOADS, selectWorkloads } from './workloads/index.mjs';
import { cpuLayout } from './proc.mjs';
import { machineInfo, canUseExtraLoopbackAddresses, sourceAddressPool } from './machine.mjs';
import { runSuite } from './suite.mjs';
import { shapeResults } from './results.mjs';
import { renderMarkdown } from './report/markdown.mjs';
import { renderSvg } from './report/svg.mjs';

const HELP = `Usage: pnpm bench [--quick] [--peers a,b] [--workloads W1,W2] [options]

  --quick            small, short runs (CI smoke test, < 2 min)
  --peers LIST       peers to run (default: all registered: ${PEER_KEYS.join(', ')})
  --workloads LIST   workloads (default: ${DEFAULT_WORKLOADS.join(', ')}); W1 also selects W1_100x10
  --repeat N         runs per peer for W1, W2, W4, W5 (default: full 3, 3, 2, 2; quick 1)
  --w2-rate N        W2 and W5 publish rate in msg/s (default: half of ws-naive's W1 rate)
  --burst N          W1 publishes per channel per event-loop turn (default 5)
  --no-wait          do not wait for a quiet machine (full mode waits up to 30 s before each run and
                     repeats a run spoiled by other processes once, within 5 min for the whole suite)
  --no-pin           do not pin the server and the load generators to separate cores
  --out DIR          output directory (default: apps/bench/results)
  --render FILE      run nothing: rewrite latest.md and latest.svg in the output directory from a results JSON
  --no-write         print results, write nothing
  -h, --help

W4 runs across two server processes on Redis and on Kafka: start them with 'pnpm services:up' (or set
REDIS_URL and KAFKA_BROKERS). A broker that does not answer is skipped with a note, never a failure.
W6 (reconnect storm: node A SIGKILLed, its clients recover on node B) and W3b (idle connections over 2
node:cluster workers) need Redis too; without it their runs fail with the reason in the report.`;

/** @param {string} value */
const list = (value) =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

async function main() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      peers: { type: 'string' },
      workloads: { type: 'string' },
      repeat: { type: 'string' },
      'w2-rate': { type: 'string' },
      burst: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
      out: { type: 'string' },
      render: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const outDir = values.out ? path.resolve(values.out) : fileURLToPath(new URL('../results/', import.meta.url));
  if (values.render) {
    const results = JSON.parse(await readFile(values.render, 'utf8'));
    await mkdir(outDir, { recursive: true });
    await writeFile(path.join(outDir, 'latest.md'), renderMarkdown(results));
    await writeFile(path.join(outDir, 'latest.svg'), renderSvg(results));
    console.log(`rendered ${values.render} to ${path.join(outDir, 'latest.{md,svg}')}`);
    return 0;
  }
  /** @type {'full' | 'quick'} */
  const mode = values.quick ? 'quick' : 'full';
  // Fail fast on an unknown or broken peer; a peer module file is named by its own key in the results.
  const peerSpecs = await Promise.all(
    (values.peers ? list(values.peers) : PEER_KEYS).map(async (spec) => {
      const fileSpec = isPeerFile(spec) ? peerFileUrl(spec) : spec;
      return { key: (await loadPeer(fileSpec)).key, spec: fileSpec };
    }),
  );
  const peers = peerSpecs.map((p) => p.key);
  if (new Set(peers).size !== peers.length) throw new TypeError(`--peers names a peer twice: ${peers.join(', ')}`);
  const workloads = selectWorkloads(values.workloads ? list(values.workloads) : DEFAULT_WORKLOADS);
  const repeat = values.repeat ? Number(values.repeat) : undefined;
  if (repeat !== undefined && !(Number.isInteger(repeat) && repeat >= 1))
    throw new TypeError('--repeat must be a positive integer');
  const w2Rate = values['w2-rate'] ? Number(values['w2-rate']) : undefined;
  if (w2Rate !== undefined && !(w2Rate > 0))
    throw new TypeError('--w2-rate must be a positive number of messages per second');

  const burst = values.burst ? Number(values.burst) : undefined;
  if (burst !== undefined && !(Number.isInteger(burst) && burst >= 1))
    throw new TypeError('--burst must be a positive integer');
  const params =
    burst === undefined
      ? MODES[mode]
      : {
          ...MODES[mode],
          W1: { ...MODES[mode].W1, burstPerChannel: burst },
          W1_100x10: { ...MODES[mode].W1_100x10, burstPerChannel: burst },
        };
  const layout = cpuLayout(!values['no-pin']);
  const extraAddresses = await canUseExtraLoopbackAddresses();
  const machine = machineInfo(mode, layout);
  const started = Date.now();
  console.log(
    `unisocket bench (${mode}): peers ${peers.join(', ')}; workloads ${workloads.join(', ')}\n` +
      `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}; ` +
      (layout.pinned
        ? `server on CPU ${layout.serverCpus}, load generators on CPU ${layout.clientCpus}`
        : 'not pinned') +
      `; source addresses ${extraAddresses ? '127.0.0.2+' : 'default'}`,
  );

  const suite = await runSuite({
    mode,
    params,
    peers: peerSpecs,
    workloads,
    repeat,
    w2Rate,
    layout,
    sourceAddresses: sourceAddressPool(extraAddresses),
    quiet:
      values['no-wait'] || mode === 'quick'
        ? { maxWaitMs: 0, retries: 0, budgetMs: 0 }
        : { maxWaitMs: 30_000, retries: 1, budgetMs: 300_000 },
    log: (line) => console.log(line),
  });

  /** @type {Record<string, unknown>} */
  const usedParams = {};
  for (const k of Object.keys(suite.workloads)) {
    const p = /** @type {Record<string, any>} */ ({ .../** @type {any} */ (params)[k] });
    if (repeat !== undefined && 'repeat' in p) p.repeat = repeat;
    usedParams[k] = p;
  }
  for (const k of ['W2', 'W5']) {
    if (suite.w2Rate && usedParams[k])
      Object.assign(/** @type {object} */ (usedParams[k]), {
        ratePerSec: suite.w2Rate.ratePerSec,
        rateSource: suite.w2Rate.source,
      });
  }
  const results = shapeResults({
    machine: { ...machine, ...{ durationSec: Math.round((Date.now() - started) / 1000) } },
    peers,
    params: usedParams,
    workloads: suite.workloads,
  });

  const markdown = renderMarkdown(results);
  console.log(`\n${markdown}`);
  if (!results.valid) {
    console.warn(
      `WARNING: ${results.invalid.length} invalid result(s); their numbers may not describe the server alone:`,
    );
    for (const x of results.invalid) console.warn(`  - ${x}`);
  }
  if (!values['no-write']) {
    const runsDir = path.join(outDir, 'runs');
    await mkdir(runsDir, { recursive: true });
    const json = `${JSON.stringify(results, null, 2)}\n`;
    const stamp = machine.date.replace(/[:.]/g, '-');
    await Promise.all([
      writeFile(path.join(outDir, 'latest.json'), json),
      writeFile(path.join(outDir, 'latest.md'), markdown),
      writeFile(path.join(outDir, 'latest.svg'), renderSvg(results)),
      writeFile(path.join(runsDir, `${stamp}-${mode}.json`), json),
    ]);
    console.log(`wrote ${path.join(outDir, 'latest.{json,md,svg}')} in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  // Speed is never pass/fail; only a harness error is.
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
