/** The workload registry (W1–W6, W3b), in run order. */

/**
 * @typedef {object} WorkloadDef
 * @property {string} key results key
 * @property {string} title
 * @property {'throughput' | 'latency' | 'memory' | 'crossnode' | 'slow' | 'storm' | 'cluster-memory'} kind which runner measures it
 * @property {(params: import('../config.mjs').ModeParams) => any} params its parameters in a mode
 */

/** @type {WorkloadDef[]} */
export const WORKLOADS = [
  { key: 'W1', title: 'W1 fan-out throughput, 1 channel', kind: 'throughput', params: (m) => m.W1 },
  { key: 'W1_100x10', title: 'W1 fan-out throughput, many channels', kind: 'throughput', params: (m) => m.W1_100x10 },
  { key: 'W2', title: 'W2 latency at a fixed rate', kind: 'latency', params: (m) => m.W2 },
  { key: 'W3', title: 'W3 idle memory', kind: 'memory', params: (m) => m.W3 },
  { key: 'W4', title: 'W4 cross-node (Redis, Kafka)', kind: 'crossnode', params: (m) => m.W4 },
  { key: 'W5', title: 'W5 slow consumers', kind: 'slow', params: (m) => m.W5 },
  { key: 'W6', title: 'W6 reconnect storm (Redis)', kind: 'storm', params: (m) => m.W6 },
  { key: 'W3b', title: 'W3b idle memory over node:cluster workers', kind: 'cluster-memory', params: (m) => m.W3b },
];

/** Workload keys selected by default: all of them. */
export const DEFAULT_WORKLOADS = WORKLOADS.map((w) => w.key);

/** @param {string} key */
export function workload(key) {
  const w = WORKLOADS.find((x) => x.key === key);
  if (!w) throw new TypeError(`unknown workload '${key}'; known: ${WORKLOADS.map((x) => x.key).join(', ')}`);
  return w;
}

/**
 * Registry keys selected by the names given (case-insensitive); a name also selects its variants (`W1` →
 * `W1`, `W1_100x10`).
 * @param {string[]} names
 */
export function selectWorkloads(names) {
  const keys = WORKLOADS.map((w) => w.key);
  const matches = (/** @type {string} */ key, /** @type {string} */ name) =>
    key.toUpperCase() === name.toUpperCase() || key.toUpperCase().startsWith(`${name.toUpperCase()}_`);
  const unknown = names.filter((n) => !keys.some((k) => matches(k, n)));
  if (unknown.length) throw new TypeError(`unknown workload(s) ${unknown.join(', ')}; known: ${keys.join(', ')}`);
  return keys.filter((k) => names.some((n) => matches(k, n)));
}
