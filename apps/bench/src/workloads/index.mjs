/**
 * The workload registry, in run order. W4 and W5 are placeholders: their entries exist so the CLI, the
 * results and the report already know them; each gets a `kind` and a runner when its issue lands.
 */

/**
 * @typedef {object} WorkloadDef
 * @property {string} key results key
 * @property {string} title
 * @property {'throughput' | 'latency' | 'memory' | null} kind null: planned, not implemented
 * @property {(params: import('../config.mjs').ModeParams) => any} [params]
 * @property {string} [planned] what it will measure, for planned workloads
 */

/** @type {WorkloadDef[]} */
export const WORKLOADS = [
  { key: 'W1', title: 'W1 fan-out throughput, 1 channel', kind: 'throughput', params: (m) => m.W1 },
  { key: 'W1_100x10', title: 'W1 fan-out throughput, many channels', kind: 'throughput', params: (m) => m.W1_100x10 },
  { key: 'W2', title: 'W2 latency at a fixed rate', kind: 'latency', params: (m) => m.W2 },
  { key: 'W3', title: 'W3 idle memory', kind: 'memory', params: (m) => m.W3 },
  {
    key: 'W4',
    title: 'W4 cross-node (Redis, Kafka)',
    kind: null,
    planned: 'two server processes on Redis (and Kafka), publish on A, 100 subscribers on B, 1,000 msg/s; added p50/p99 over W2',
  },
  {
    key: 'W5',
    title: 'W5 slow consumers',
    kind: null,
    planned: '1% of W2 clients stop reading; server RSS stays bounded, the others’ p99 within 2× of W2',
  },
];

/** Workload keys selected by default (the implemented ones). */
export const DEFAULT_WORKLOADS = WORKLOADS.filter((w) => w.kind).map((w) => w.key);

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

