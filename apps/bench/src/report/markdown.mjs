/** results/latest.md: absolute numbers, ratios against every peer present, targets, validity. */
import { METRICS, TARGETS, ratio } from './metrics.mjs';

/** @param {number} r */
const fmtRatio = (r) =>
  Number.isFinite(r) ? `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}×` : 'n/a';

/**
 * @param {import('../results.mjs').BenchResults} results
 * @returns {import('./metrics.mjs').Metric[]} metrics that have at least one value
 */
function presentMetrics(results) {
  return METRICS.filter((m) =>
    results.peers.some((p) => typeof results.workloads[m.workload]?.[p]?.[m.field] === 'number'),
  );
}

/**
 * Short description of a workload's parameters, for the row labels.
 * @param {import('../results.mjs').BenchResults} results
 * @param {string} workload
 */
function paramsNote(results, workload) {
  const p = /** @type {any} */ (results.params[workload]);
  if (!p) return '';
  if (workload.startsWith('W1'))
    return `${p.channels} ch × ${p.perChannel} subs, ${p.durationMs / 1000} s × ${p.repeat}, burst ${p.burstPerChannel}`;
  if (workload === 'W2')
    return `${p.perChannel} subs, ${p.ratePerSec ? `${Number(p.ratePerSec).toFixed(0)} msg/s, ` : ''}${p.durationMs / 1000} s`;
  if (workload === 'W3') return `${p.connections} conns`;
  if (workload === 'W4')
    return `${p.perChannel} subs on node B, ${p.ratePerSec} msg/s on node A, ${p.durationMs / 1000} s × ${p.repeat}`;
  if (workload === 'W5')
    return `${p.perChannel} subs, ${Math.round(p.slowFraction * 100)}% stop reading, ${p.ratePerSec ? `${Number(p.ratePerSec).toFixed(0)} msg/s, ` : ''}${p.durationMs / 1000} s × ${p.repeat}`;
  if (workload === 'W6')
    return `${p.clients} clients on A, ${p.channels} ch, ${p.ratePerSec} msg/s on B, SIGKILL A, Redis`;
  if (workload === 'W3b') return `${p.connections} conns, ${p.workers} workers`;
  return '';
}

/**
 * @param {import('../results.mjs').BenchResults} results
 * @returns {string}
 */
export function renderMarkdown(results) {
  const { machine, peers } = results;
  const metrics = presentMetrics(results);
  const lines = [];
  lines.push(`# unisocket benchmark — ${results.mode} run`);
  lines.push('');
  lines.push(
    `${machine.date} · ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB · Node ${machine.node} · ${machine.platform}`,
  );
  lines.push(
    machine.pinned
      ? `Server pinned to CPU ${machine.serverCpus}, load generators to CPU ${machine.clientCpus}.`
      : 'Processes not pinned to cores.',
  );
  lines.push('');
  lines.push(
    results.valid
      ? '**All runs valid.**'
      : `**${results.invalid.length} result(s) invalid** (marked ⚠; see [Validity](#validity)): their numbers may not describe the server alone.`,
  );
  if (results.mode === 'quick')
    lines.push('', '_Quick mode: a smoke test with small loads. Do not compare these numbers with full runs._');
  lines.push('');

  lines.push('## Results');
  lines.push('');
  lines.push(`| metric | setup | better | ${peers.join(' | ')} |`);
  lines.push(`|---|---|---|${peers.map(() => '---:').join('|')}|`);
  for (const m of metrics) {
    const cells = peers.map((p) => {
      const r = results.workloads[m.workload]?.[p];
      if (!r) return '–';
      return `${m.format(r[m.field])}${r.valid === false ? ' ⚠' : ''}`;
    });
    lines.push(`| ${m.label} | ${paramsNote(results, m.workload)} | ${m.better} | ${cells.join(' | ')} |`);
  }
  lines.push('');

  if (peers.length > 1) {
    lines.push('## Ratios');
    lines.push('');
    lines.push(
      'Each cell is _column peer ÷ reference peer_ for that metric. Above 1× is better for "higher" metrics, below 1× for "lower" ones.',
    );
    for (const ref of peers) {
      const others = peers.filter((p) => p !== ref);
      lines.push('');
      lines.push(`### ÷ ${ref}`);
      lines.push('');
      lines.push(`| metric | better | ${others.map((p) => `${p} ÷ ${ref}`).join(' | ')} |`);
      lines.push(`|---|---|${others.map(() => '---:').join('|')}|`);
      for (const m of metrics) {
        const refValue = results.workloads[m.workload]?.[ref]?.[m.field];
        const cells = others.map((p) => fmtRatio(ratio(results.workloads[m.workload]?.[p]?.[m.field], refValue)));
        lines.push(`| ${m.label} | ${m.better} | ${cells.join(' | ')} |`);
      }
    }
    lines.push('');
  }

  const targets = TARGETS.filter(
    (t) =>
      peers.includes(t.subject) &&
      results.workloads[t.workload] !== undefined &&
      (t.reference ? peers.includes(t.reference) : results.workloads[t.workload]?.[t.subject] !== undefined),
  );
  lines.push('## Targets');
  lines.push('');
  if (targets.length === 0) {
    lines.push(
      '_No target applies: the targets compare unisocket-native with the raw ws and Socket.IO peers (and unisocket-pusher with unisocket-native), and not all of them were in this run._',
    );
  } else {
    lines.push('| target | measured | met |');
    lines.push('|---|---:|:---:|');
    for (const t of targets) {
      const m = METRICS.find((x) => x.workload === t.workload && x.field === t.field);
      const subject = results.workloads[t.workload]?.[t.subject]?.[t.field];
      const r = t.reference
        ? ratio(subject, results.workloads[t.workload]?.[t.reference]?.[t.field])
        : typeof subject === 'number'
          ? subject
          : NaN;
      const refResult = t.reference ? results.workloads[t.workload]?.[t.reference] : undefined;
      const never =
        t.referenceNever === true &&
        refResult !== undefined &&
        typeof subject === 'number' &&
        Number.isFinite(subject) &&
        !Number.isFinite(refResult[t.field] ?? NaN) &&
        refResult.valid !== undefined;
      if (never) {
        lines.push(
          `| ${m?.label ?? t.field}: ${t.subject} ${t.op} ${t.bound}× ${t.reference} | ${m ? m.format(subject) : subject} vs never (${t.reference} did not get there) | ${t.op === '<=' ? 'yes' : 'no'} |`,
        );
        continue;
      }
      const met = Number.isFinite(r) ? (t.op === '>=' ? r >= t.bound : r <= t.bound) : null;
      const label = m?.label ?? t.field;
      const row = t.reference
        ? `| ${label}: ${t.subject} ${t.op} ${t.bound}× ${t.reference} | ${fmtRatio(r)} |`
        : `| ${label}: ${t.subject} ${t.op} ${m ? m.format(t.bound) : t.bound} | ${m ? m.format(r) : r} |`;
      lines.push(`${row} ${met === null ? 'n/a' : met ? 'yes' : 'no'} |`);
    }
  }
  lines.push('');

  lines.push('## Validity');
  lines.push('');
  if (results.invalid.length === 0)
    lines.push('Every load-generator process stayed below 90% of a core, and every socket connected.');
  for (const x of results.invalid) lines.push(`- ⚠ ${x}`);
  if (results.warnings.length) {
    lines.push('');
    lines.push('Warnings (do not invalidate a run):');
    lines.push('');
    for (const w of results.warnings) lines.push(`- ${w}`);
  }
  lines.push('');
  const w2 = /** @type {any} */ (results.params.W2);
  if (w2?.rateSource) {
    lines.push(`W2 publish rate: ${Number(w2.ratePerSec).toFixed(1)} msg/s — ${w2.rateSource}.`);
    lines.push('');
  }
  lines.push('How these numbers are made: see apps/bench/README.md.');
  lines.push('');
  return lines.join('\n');
}
