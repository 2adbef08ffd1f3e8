/** The shape of results/latest.json, and the list of what made a run invalid. */

/**
 * @typedef {object} BenchResults
 * @property {number} schema
 * @property {ReturnType<typeof import('./machine.mjs').machineInfo>} machine
 * @property {'full' | 'quick'} mode
 * @property {boolean} valid every reported number comes from valid runs
 * @property {string[]} invalid `workload/peer: reason` for every invalid result
 * @property {string[]} warnings `workload/peer: warning`
 * @property {string[]} peers
 * @property {Record<string, unknown>} params
 * @property {Record<string, Record<string, any>>} workloads
 */

/**
 * @param {object} input
 * @param {BenchResults['machine']} input.machine
 * @param {string[]} input.peers
 * @param {Record<string, unknown>} input.params
 * @param {Record<string, Record<string, any>>} input.workloads
 * @returns {BenchResults}
 */
export function shapeResults({ machine, peers, params, workloads }) {
  /** @type {string[]} */
  const invalid = [];
  /** @type {string[]} */
  const warnings = [];
  for (const [w, byPeer] of Object.entries(workloads)) {
    for (const [peer, r] of Object.entries(byPeer)) {
      if (r.valid === false) invalid.push(`${w}/${peer}: ${(r.reasons ?? []).join('; ') || 'invalid'}`);
      for (const warning of r.warnings ?? []) warnings.push(`${w}/${peer}: ${warning}`);
    }
  }
  return {
    schema: 1,
    machine,
    mode: machine.mode,
    valid: invalid.length === 0,
    invalid,
    warnings,
    peers,
    params,
    workloads: sanitize(workloads),
  };
}

/**
 * JSON has no NaN/Infinity: missing numbers become null.
 * @template T
 * @param {T} value
 * @returns {T}
 */
function sanitize(value) {
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
}
