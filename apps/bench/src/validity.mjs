/**
 * Validity rules for one run (see README, "Validity"). A run is invalid when its numbers may describe the
 * load generator rather than the system under test, or when the workload did not happen as specified.
 */
import { LOADGEN_CPU_LIMIT_PCT } from './config.mjs';

/** Other processes using more than this (% of one core) during a window make the run invalid… */
export const FOREIGN_CPU_INVALID_PCT = 25;
/** …and more than this earns a warning. */
export const FOREIGN_CPU_WARN_PCT = 10;

/**
 * @typedef {{ valid: boolean, reasons: string[], warnings: string[] }} Verdict
 */

/**
 * @param {object} input
 * @param {number[]} input.clientCpuPct CPU use of each load-generator process over the window, % of one core
 * @param {{ pinned: boolean, clientCores: number }} input.layout
 * @param {number} [input.connectFailed] sockets that failed to connect or subscribe
 * @param {number} [input.closedUnexpectedly] sockets closed by the server during the run
 * @param {number} [input.drops] expected − received deliveries after the drain
 * @param {boolean} [input.drainTimedOut]
 * @param {{ foreignCpuPct: number, stealPct: number } | null} [input.machineLoad] other load during the window
 * @param {number} [input.deliveryLagMs] throughput runs: last delivery − end of the publish window. When given,
 *   pinned load generators that together saturate their cores invalidate the run only if deliveries fell
 *   behind (a backlog formed); if they kept up, the server set the pace and it is a warning.
 * @param {number} [input.windowMs]
 * @param {number} [input.limitPct]
 * @returns {Verdict}
 */
export function assessRun({
  clientCpuPct,
  layout,
  connectFailed = 0,
  closedUnexpectedly = 0,
  drops = 0,
  drainTimedOut = false,
  machineLoad = null,
  deliveryLagMs,
  windowMs = 0,
  limitPct = LOADGEN_CPU_LIMIT_PCT,
}) {
  /** @type {string[]} */
  const reasons = [];
  /** @type {string[]} */
  const warnings = [];
  clientCpuPct.forEach((pct, i) => {
    if (pct > limitPct) reasons.push(`load generator #${i} used ${pct.toFixed(0)}% of a core (limit ${limitPct}%)`);
  });
  if (layout.pinned && clientCpuPct.length > 0) {
    const total = clientCpuPct.reduce((s, p) => s + p, 0);
    const capacity = layout.clientCores * limitPct;
    if (total > capacity) {
      const saturated = `load generators together used ${total.toFixed(0)}% of their ${layout.clientCores} pinned core(s) (limit ${capacity}%)`;
      if (deliveryLagMs === undefined) reasons.push(saturated);
      else if (deliveryLagMs > maxLagMs(windowMs))
        reasons.push(`${saturated} and fell behind: last delivery ${Math.round(deliveryLagMs)} ms after the window`);
      else warnings.push(`${saturated} but kept up: last delivery ${Math.round(deliveryLagMs)} ms after the window`);
    }
  }
  if (clientCpuPct.some((p) => Number.isNaN(p))) warnings.push('a load generator did not report its CPU use');
  if (connectFailed > 0) reasons.push(`${connectFailed} sockets failed to connect/subscribe`);
  if (closedUnexpectedly > 0) warnings.push(`${closedUnexpectedly} sockets were closed by the server during the run`);
  if (drops > 0) warnings.push(`${drops} deliveries missing after the drain`);
  if (drainTimedOut) warnings.push('drain timed out');
  if (machineLoad) {
    const { foreignCpuPct, stealPct } = machineLoad;
    if (foreignCpuPct > FOREIGN_CPU_INVALID_PCT) {
      reasons.push(
        `machine busy: other processes used ${foreignCpuPct}% of a core during the window (limit ${FOREIGN_CPU_INVALID_PCT}%)`,
      );
    } else if (foreignCpuPct > FOREIGN_CPU_WARN_PCT) {
      warnings.push(`other processes used ${foreignCpuPct}% of a core during the window`);
    }
    if (stealPct > FOREIGN_CPU_WARN_PCT) warnings.push(`the hypervisor stole ${stealPct}% of a core during the window`);
  }
  return { valid: reasons.length === 0, reasons, warnings };
}

/**
 * How late the last delivery of a throughput window may arrive and still count as "kept up".
 * @param {number} windowMs
 */
export function maxLagMs(windowMs) {
  return Math.max(100, windowMs * 0.02);
}

/**
 * Combine the verdicts of repeated runs of one peer: valid only if every run was.
 * @param {Verdict[]} verdicts
 * @returns {Verdict}
 */
export function combineVerdicts(verdicts) {
  const reasons = [...new Set(verdicts.flatMap((v) => v.reasons))];
  const warnings = [...new Set(verdicts.flatMap((v) => v.warnings))];
  return { valid: verdicts.every((v) => v.valid), reasons, warnings };
}

/** @param {number[]} values @returns {number} */
export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  const upper = sorted[mid] ?? NaN;
  return sorted.length % 2 ? upper : ((sorted[mid - 1] ?? NaN) + upper) / 2;
}
