/**
 * W6 reconnect storm: N clients on node A over C channels with a live stream published on node B (both on Redis),
 * then A is SIGKILLed; every client reconnects to B and catches up the way its real client does (clients/storm.mjs).
 * Measured: time from the kill until 99 % and 100 % of the clients have recovered (received, gap-free and without
 * duplicates, a message published after they came back), messages lost and duplicated up to the live head, node B's
 * CPU time over the storm (all of it, and what it spent above its rate with every client live before the kill: the
 * storm's own cost, comparable across peers whose storms last differently long), its event-loop delay over the storm,
 * and the Redis commands issued during it.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { System, assignSubscriptions } from '../system.mjs';
import { MAX_SOCKETS_PER_CLIENT_PROCESS } from '../config.mjs';
import { loadPeer } from '../peers/index.mjs';
import { channelNames } from '../payload.mjs';
import { wallNowMs, sleep } from '../clock.mjs';
import { brokerPids, foreignLoad, readCpuTicks, readUserSec } from '../load.mjs';
import { assessRun } from '../validity.mjs';
import { nodesFor, removeRunData } from './w4.mjs';
import { round3 } from './w1.mjs';

/** monitorEventLoopDelay's sampling interval (ms), taken off its readings: what is left is the delay. */
const LOOP_RESOLUTION_MS = 10;

/**
 * The value below which `p` % of `values` lie (-1 = never: counted as infinitely late); NaN if that is never.
 * @param {number[]} values
 * @param {number} p
 */
export function percentileOf(values, p) {
  if (values.length === 0) return NaN;
  const sorted = values.map((v) => (v < 0 ? Number.POSITIVE_INFINITY : v)).sort((a, b) => a - b);
  const v = /** @type {number} */ (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);
  return Number.isFinite(v) ? v : NaN;
}

/**
 * How many values fall in each second after the kill (index = whole seconds; -1 = never, counted apart).
 * @param {number[]} values ms
 */
export function perSecond(values) {
  /** @type {number[]} */
  const buckets = [];
  let never = 0;
  for (const v of values) {
    if (v < 0) {
      never++;
      continue;
    }
    const i = Math.floor(v / 1000);
    while (buckets.length <= i) buckets.push(0);
    buckets[i] = (buckets[i] ?? 0) + 1;
  }
  return { buckets, never };
}

/**
 * `INFO commandstats` as calls per command.
 * @param {Redis} redis
 * @returns {Promise<Record<string, number>>}
 */
async function commandStats(redis) {
  const text = await redis.info('commandstats');
  /** @type {Record<string, number>} */
  const out = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[/** @type {string} */ (m[1])] = Number(m[2]);
  return out;
}

/**
 * @param {Record<string, number>} before
 * @param {Record<string, number>} after
 */
function commandDelta(before, after) {
  /** @type {Record<string, number>} */
  const delta = {};
  let total = 0;
  for (const [cmd, n] of Object.entries(after)) {
    const d = n - (before[cmd] ?? 0);
    if (d > 0) {
      delta[cmd] = d;
      total += d;
    }
  }
  const top = Object.fromEntries(
    Object.entries(delta)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8),
  );
  return { total, top };
}

/**
 * The kernel's count of connections dropped because a listen queue was full (`TcpExt ListenOverflows` in
 * /proc/net/netstat; machine-wide, Linux only: NaN elsewhere). A storm that overflows node B's accept backlog makes
 * its clients wait for SYN retransmissions (1 s, 3 s, 7 s, 15 s …), which shows in the recovery times.
 */
export function listenOverflows() {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const keys = (lines[i] ?? '').split(/\s+/);
    const values = (lines[i + 1] ?? '').split(/\s+/);
    const at = keys.indexOf('ListenOverflows');
    return at > 0 ? Number(values[at]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Poll `fn` every 100 ms until it returns true or `timeoutMs` passed.
 * @param {() => Promise<boolean>} fn
 * @param {number} timeoutMs
 * @returns {Promise<boolean>} whether it became true
 */
async function until(fn, timeoutMs) {
  const deadline = wallNowMs() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (wallNowMs() >= deadline) return false;
    await sleep(100);
  }
}

/**
 * One W6 run.
 * @param {import('./context.mjs').RunContext} ctx
 * @param {string} peerKey
 * @param {import('../config.mjs').StormParams} p
 */
export async function runReconnectStorm(ctx, peerKey, p) {
  const peer = await loadPeer(peerKey);
  if (!peer.storm) throw new TypeError(`peer '${peerKey}' does not run W6 (it declares no \`storm\`)`);
  if (p.clients % p.channels !== 0)
    throw new TypeError(`W6: clients (${p.clients}) must be a multiple of channels (${p.channels})`);
  const processes = Math.max(p.clientProcesses, Math.ceil(p.clients / MAX_SOCKETS_PER_CLIENT_PROCESS));
  const channels = channelNames(p.channels);
  const perProcess = assignSubscriptions(channels, p.clients / p.channels, processes);
  // node B (the publisher, where the clients go) first, node A (where they start) last
  const nodes = nodesFor('redis');
  const broker = /** @type {import('../peers/types.mjs').BenchBroker & { type: 'redis' }} */ (nodes[0]?.broker);
  const redis = new Redis(broker.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  /** @type {System | null} */
  let system = null;
  let streaming = false;
  try {
    system = await System.start({
      peer: peerKey,
      protocol: peer.protocol,
      layout: ctx.layout,
      sourceAddresses: ctx.sourceAddresses(processes),
      nodes,
      recovery: true,
    });
    const sys = system;
    const [portB = 0, portA = 0] = sys.ports;
    const nodeB = sys.server;
    const nodeA = /** @type {import('../proc.mjs').Child} */ (sys.servers[1]);
    const connect = await sys.connect(perProcess, {
      timeoutMs: 300_000,
      command: 'storm-connect',
      extra: { urls: [sys.url(portA), sys.url(portB)] },
    });
    if (connect.connected === 0) throw new Error(`no client connected: ${connect.errors.join('; ')}`);
    const status = async () => {
      const all = await Promise.all(sys.clients.map((c) => c.request('storm-status')));
      /** @type {Record<string, number>} */
      const sum = {};
      for (const s of all) for (const [k, v] of Object.entries(s)) sum[k] = (sum[k] ?? 0) + Number(v);
      return { sum, perProcess: all };
    };
    await nodeB.request('stream-start', { channels, ratePerSec: p.ratePerSec, maxMs: 600_000 });
    streaming = true;
    // every client has a live message before the kill (its position is known), then the stream runs a while
    const allLive = await until(async () => (await status()).sum.live === connect.connected, 30_000);
    if (!allLive) throw new Error('W6: not every client got a live message within 30 s of the stream starting');
    // node B's CPU rate with every client live (the stream alone): what the storm costs is what B spends above it
    const live0 = await nodeB.request('cpu-total');
    await sleep(p.liveMs);
    const live1 = await nodeB.request('cpu-total');
    const liveCpuPerSec = (live1.cpuSec - live0.cpuSec) / ((live1.wall - live0.wall) / 1000);

    const redisBefore = await commandStats(redis);
    const ticks0 = readCpuTicks();
    const pids = brokerPids();
    const brokers0 = readUserSec(pids);
    const harness0 = process.cpuUsage();
    const clients0 = (await status()).perProcess;
    await nodeB.request('storm-start');
    const overflows0 = listenOverflows();
    const killAt = wallNowMs();
    nodeA.proc.kill('SIGKILL');
    await nodeA.exited;

    // the storm lasts until every client recovered, or every client resumed and `settleMs` passed (the ones that
    // lost messages never recover), or the timeout
    let allResumedAt = 0;
    const stormDone = await until(async () => {
      const { sum } = await status();
      if (sum.recovered === connect.connected) return true;
      if (sum.resumed === connect.connected) {
        allResumedAt ||= wallNowMs();
        return wallNowMs() - allResumedAt >= p.settleMs;
      }
      return false;
    }, p.stormTimeoutMs);
    const stormEnd = wallNowMs();
    const overflows = listenOverflows() - overflows0;
    const nodeBStats = await nodeB.request('storm-stats');
    const redisAfter = await commandStats(redis);
    const clients1 = (await status()).perProcess;
    const ticks1 = readCpuTicks();
    const harness1 = process.cpuUsage(harness0);
    const brokers1 = readUserSec(pids);

    // the stream goes on a little, then stops: every client must then reach its channel's head
    await sleep(p.tailMs);
    const { heads, published } = await nodeB.request('stream-stop');
    streaming = false;
    const caughtUp = await until(
      async () =>
        (await Promise.all(sys.clients.map((c) => c.request('storm-caught-up', { heads })))).every(
          (r) => r.behind === 0,
        ),
      p.drainMs,
    );
    const results = await Promise.all(sys.clients.map((c) => c.request('storm-result', { heads, killAt })));
    const recoveredMs = results.flatMap((r) => r.recoveredMs);
    const resumedMs = results.flatMap((r) => r.resumedMs);
    const sum = (/** @type {string} */ k) => results.reduce((s, r) => s + r[k], 0);
    const stormSec = (stormEnd - killAt) / 1000;
    const clientCpuPct = clients1.map((c, i) => ((c.cpuSec - (clients0[i]?.cpuSec ?? 0)) / stormSec) * 100);
    const clientUser = clients1.reduce((s, c, i) => s + c.cpuUserSec - (clients0[i]?.cpuUserSec ?? 0), 0);
    const machineLoad =
      ticks0 && ticks1
        ? foreignLoad(
            ticks0,
            ticks1,
            nodeBStats.userSec + clientUser + harness1.user / 1e6 + (brokers1 - brokers0),
            stormSec,
          )
        : null;
    const verdict = assessRun({
      clientCpuPct,
      layout: ctx.layout,
      connectFailed: connect.failed,
      machineLoad,
    });
    const recovered = recoveredMs.filter((x) => x >= 0).length;
    const clients = connect.connected;
    const redisCommands = commandDelta(redisBefore, redisAfter);
    return {
      clients,
      recoveredPct: round3((recovered / clients) * 100),
      p99RecoveredMs: percentileOf(recoveredMs, 99),
      allRecoveredMs: percentileOf(recoveredMs, 100),
      p99ResumedMs: percentileOf(resumedMs, 99),
      allResumedMs: percentileOf(resumedMs, 100),
      lost: sum('lost'),
      duplicated: sum('duplicates'),
      nodeBCpuSec: round3(nodeBStats.cpuSec),
      nodeBStormCpuSec: round3(Math.max(0, nodeBStats.cpuSec - liveCpuPerSec * stormSec)),
      nodeBLoopDelayP99Ms: round3(Math.max(0, nodeBStats.loopDelayP99Ms - LOOP_RESOLUTION_MS)),
      nodeBLoopDelayMaxMs: round3(Math.max(0, nodeBStats.loopDelayMaxMs - LOOP_RESOLUTION_MS)),
      redisCommands: redisCommands.total,
      ...verdict,
      warnings: [
        ...verdict.warnings,
        ...(stormDone ? [] : [`the storm had not settled after ${p.stormTimeoutMs} ms`]),
        ...(caughtUp ? [] : [`not every client reached its channel's head within ${p.drainMs} ms of the stream's end`]),
        'Redis is shared: its command count includes what other processes sent it during the storm',
      ],
      details: {
        clientProcesses: perProcess.length,
        connectMs: Math.round(connect.ms),
        published,
        stormMs: Math.round(stormEnd - killAt),
        clientsWithLoss: sum('clientsWithLoss'),
        clientsWithDuplicates: sum('clientsWithDuplicates'),
        notRecoveredAcks: sum('notRecovered'),
        refusedSubscribes: sum('refused'),
        reconnectAttempts: sum('attempts'),
        clientsNeverDisconnected: sum('neverLost'),
        clientCpuPct: clientCpuPct.map((x) => Math.round(x)),
        nodeB: nodeBStats,
        nodeBLiveCpuPct: Math.round(liveCpuPerSec * 100),
        listenQueueOverflows: overflows,
        redisCommandsTop: redisCommands.top,
        p50RecoveredMs: percentileOf(recoveredMs, 50),
        recoveredPerSecond: perSecond(recoveredMs),
        resumedPerSecond: perSecond(resumedMs),
      },
    };
  } finally {
    if (streaming) await system?.server.request('stream-stop').catch(() => {});
    await system?.stop();
    redis.disconnect();
    await removeRunData(broker).catch((err) =>
      ctx.log(`  (could not remove the run's Redis keys: ${err instanceof Error ? err.message : err})`),
    );
  }
}
