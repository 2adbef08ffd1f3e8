/**
 * Other load on the machine during a measurement window. The harness shares its machine (other processes,
 * a hypervisor), so it records how much user-space CPU went to processes that are not part of the run, and
 * how much time the hypervisor stole, from /proc/stat (Linux; null elsewhere).
 */
import { readFileSync, readdirSync } from 'node:fs';

/** @typedef {{ userNice: number, steal: number, total: number }} CpuTicks */

/** USER_HZ: /proc/stat counts in 1/100 s on every Linux Node supports. */
const TICKS_PER_SEC = 100;

/** @returns {CpuTicks | null} */
export function readCpuTicks() {
  let text;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const line = text.split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return null;
  const [user = 0, nice = 0, , , , , , steal = 0] = f;
  return { userNice: user + nice, steal, total: f.slice(0, 8).reduce((s, x) => s + x, 0) };
}

/**
 * Processes of the brokers a W4 run uses (Redis and Kafka on this machine), found by their command line in /proc.
 * Their CPU is part of the system under test, not other load. Empty where /proc is missing.
 * @returns {number[]}
 */
export function brokerPids() {
  /** @type {number[]} */
  const pids = [];
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (cmd.includes('redis-server') || cmd.includes('kafka.Kafka')) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/**
 * User CPU seconds of these processes (all threads) so far; processes that are gone count 0.
 * @param {number[]} pids
 */
export function readUserSec(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // the command name (field 2) may contain spaces: the fields after it start after the last ')'
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) || 0; // utime: field 14 of the whole line
    } catch {
      /* gone */
    }
  }
  return ticks / TICKS_PER_SEC;
}

/**
 * @param {CpuTicks | null} before
 * @param {CpuTicks | null} after
 * @param {number} ownUserSec user CPU of every process of the run (server, clients, harness) over the window
 * @param {number} seconds window length
 * @returns {{ foreignCpuPct: number, stealPct: number } | null} in % of one core
 */
export function foreignLoad(before, after, ownUserSec, seconds) {
  if (!before || !after || !(seconds > 0)) return null;
  const userSec = (after.userNice - before.userNice) / TICKS_PER_SEC;
  const stealSec = (after.steal - before.steal) / TICKS_PER_SEC;
  return {
    foreignCpuPct: Math.max(0, Math.round(((userSec - ownUserSec) / seconds) * 100)),
    stealPct: Math.round((stealSec / seconds) * 100),
  };
}

/**
 * Wait until other processes use at most `thresholdPct` of a core (sampled over `sampleMs`), or `maxWaitMs`
 * passed. Call between runs, when the run's own processes are stopped (the harness's own CPU is subtracted).
 * @param {{ thresholdPct: number, maxWaitMs: number, sampleMs?: number, log?: (line: string) => void }} o
 * @returns {Promise<{ quiet: boolean, foreignCpuPct: number | null, waitedMs: number }>}
 */
export async function waitForQuiet({ thresholdPct, maxWaitMs, sampleMs = 1000, log }) {
  const t0 = Date.now();
  let logged = false;
  for (;;) {
    const before = readCpuTicks();
    const own0 = process.cpuUsage();
    const w0 = Date.now();
    await new Promise((resolve) => setTimeout(resolve, sampleMs));
    const own = process.cpuUsage(own0);
    const load = foreignLoad(before, readCpuTicks(), own.user / 1e6, (Date.now() - w0) / 1000);
    const waitedMs = Date.now() - t0;
    if (!load) return { quiet: true, foreignCpuPct: null, waitedMs };
    if (load.foreignCpuPct <= thresholdPct) return { quiet: true, foreignCpuPct: load.foreignCpuPct, waitedMs };
    if (waitedMs >= maxWaitMs) {
      log?.(
        `  machine still busy after ${Math.round(waitedMs / 1000)} s (other processes at ${load.foreignCpuPct}% of a core); running anyway`,
      );
      return { quiet: false, foreignCpuPct: load.foreignCpuPct, waitedMs };
    }
    if (!logged) {
      log?.(`  waiting for the machine to quiet down (other processes at ${load.foreignCpuPct}% of a core)…`);
      logged = true;
    }
  }
}
