/**
 * results/latest.svg: W1 deliveries/s and W2 p50/p99 per peer, as grouped bar charts. Hand-written SVG,
 * no dependencies. The latency panel switches to a log scale when values span more than 20×.
 */

/** @param {string} s */
export function escapeXml(s) {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * @typedef {{ key: string, label: string, color: string }} Series
 * @typedef {{ label: string, values: Record<string, { value: number | null | undefined, invalid?: boolean }> }} Group
 */

/** @param {number} v */
const compact = (v) => {
  if (!Number.isFinite(v)) return 'n/a';
  if (v === 0) return '0';
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
};

/**
 * 0 and round steps (1, 2, 2.5 or 5 × 10^n) up to at least `top`: about 5 gridlines.
 * @param {number} top
 * @returns {number[]}
 */
export function niceTicks(top) {
  if (!(top > 0)) return [0, 1];
  const raw = top / 5;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = /** @type {number} */ ([1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw));
  const n = Math.ceil(top / step - 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => i * step);
}

/**
 * @param {object} o
 * @param {number} o.x
 * @param {number} o.y
 * @param {number} o.width
 * @param {number} o.height
 * @param {string} o.title
 * @param {string} o.unit
 * @param {Series[]} o.series
 * @param {Group[]} o.groups
 * @param {boolean} [o.allowLog]
 * @returns {string}
 */
function barPanel({ x, y, width, height, title, unit, series, groups, allowLog = false }) {
  const out = [];
  const top = y + 44;
  const bottom = y + height - 40;
  const left = x + 64;
  const right = x + width - 12;
  const plotH = bottom - top;
  const values = groups
    .flatMap((g) => series.map((s) => g.values[s.key]?.value))
    .filter((v) => typeof v === 'number' && v > 0);
  const max = values.length ? Math.max(.../** @type {number[]} */ (values)) : 1;
  const min = values.length ? Math.min(.../** @type {number[]} */ (values)) : 1;
  const log = allowLog && max / min > 20;
  const logMin = 10 ** Math.floor(Math.log10(min));
  const logMax = 10 ** Math.ceil(Math.log10(max));
  const linearTicks = niceTicks(max * 1.05);
  const linearTop = /** @type {number} */ (linearTicks[linearTicks.length - 1]);
  /** @param {number} v */
  const scale = (v) => {
    if (!(v > 0)) return 0;
    if (log) return ((Math.log10(v) - Math.log10(logMin)) / (Math.log10(logMax) - Math.log10(logMin))) * plotH;
    return (v / linearTop) * plotH;
  };

  out.push(`<text x="${x + 8}" y="${y + 18}" class="title">${escapeXml(title)}${log ? ' (log scale)' : ''}</text>`);
  // legend
  let lx = x + 8;
  for (const s of series) {
    out.push(`<rect x="${lx}" y="${y + 27}" width="10" height="10" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 14}" y="${y + 36}" class="small">${escapeXml(s.label)}</text>`);
    lx += 24 + s.label.length * 6.5;
  }
  // axis and grid
  const ticks = log
    ? Array.from({ length: Math.round(Math.log10(logMax / logMin)) + 1 }, (_, i) => logMin * 10 ** i)
    : linearTicks;
  for (const t of ticks) {
    const ty = bottom - scale(t);
    out.push(`<line x1="${left}" y1="${ty.toFixed(1)}" x2="${right}" y2="${ty.toFixed(1)}" class="grid"/>`);
    out.push(
      `<text x="${left - 6}" y="${(ty + 4).toFixed(1)}" class="small" text-anchor="end">${escapeXml(compact(t))}</text>`,
    );
  }
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" class="axis"/>`);
  out.push(
    `<text x="${x + 12}" y="${(top + bottom) / 2}" class="small" transform="rotate(-90 ${x + 12} ${(top + bottom) / 2})" text-anchor="middle">${escapeXml(unit)}</text>`,
  );

  const groupW = groups.length ? (right - left) / groups.length : 0;
  const barW = Math.min(48, (groupW * 0.7) / Math.max(1, series.length));
  groups.forEach((g, gi) => {
    const gx = left + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const cell = g.values[s.key];
      const v = typeof cell?.value === 'number' ? cell.value : NaN;
      const h = Number.isFinite(v) ? scale(v) : 0;
      const bx = gx + si * barW;
      if (h > 0) {
        out.push(
          `<rect x="${bx.toFixed(1)}" y="${(bottom - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"${cell?.invalid ? ' fill-opacity="0.4" stroke="#c00" stroke-dasharray="3 2"' : ''}>` +
            `<title>${escapeXml(`${g.label} ${s.label}: ${compact(v)} ${unit}${cell?.invalid ? ' (invalid run)' : ''}`)}</title></rect>`,
        );
      }
      out.push(
        `<text x="${(bx + (barW - 2) / 2).toFixed(1)}" y="${(bottom - h - 4).toFixed(1)}" class="value" text-anchor="middle">${escapeXml(compact(v))}${cell?.invalid ? '⚠' : ''}</text>`,
      );
    });
    out.push(
      `<text x="${(left + gi * groupW + groupW / 2).toFixed(1)}" y="${bottom + 16}" class="label" text-anchor="middle">${escapeXml(g.label)}</text>`,
    );
  });
  return out.join('\n');
}

/**
 * @param {import('../results.mjs').BenchResults} results
 * @returns {string} a standalone SVG document
 */
export function renderSvg(results) {
  const width = 760;
  const panelH = 300;
  const { peers, workloads } = results;
  /** @param {string} w @param {string} field @param {string} peer */
  const cell = (w, field, peer) => {
    const r = workloads[w]?.[peer];
    return { value: r?.[field], invalid: r?.valid === false };
  };
  const w1 = barPanel({
    x: 0,
    y: 30,
    width,
    height: panelH,
    title: 'W1 fan-out throughput (higher is better)',
    unit: 'deliveries/s',
    series: [
      { key: 'one', label: 'one channel', color: '#2b6cb0' },
      { key: 'many', label: 'many channels', color: '#68a5e8' },
    ],
    groups: peers.map((p) => ({
      label: p,
      values: { one: cell('W1', 'deliveriesPerSec', p), many: cell('W1_100x10', 'deliveriesPerSec', p) },
    })),
  });
  const w2 = barPanel({
    x: 0,
    y: 30 + panelH,
    width,
    height: panelH,
    title: 'W2 latency at a fixed rate (lower is better)',
    unit: 'ms',
    series: [
      { key: 'p50', label: 'p50', color: '#2f855a' },
      { key: 'p99', label: 'p99', color: '#dd6b20' },
    ],
    groups: peers.map((p) => ({ label: p, values: { p50: cell('W2', 'p50Ms', p), p99: cell('W2', 'p99Ms', p) } })),
    allowLog: true,
  });
  const height = 30 + 2 * panelH + 10;
  const subtitle = `${results.mode} run · ${results.machine.date.slice(0, 10)} · ${results.machine.cpuModel}, ${results.machine.cores} cores · Node ${results.machine.node}${results.valid ? '' : ' · ⚠ some runs invalid'}`;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">`,
    `<style>.title{font-size:14px;font-weight:600;fill:#1a202c}.small{font-size:11px;fill:#4a5568}.label{font-size:12px;fill:#1a202c}.value{font-size:10px;fill:#1a202c}.grid{stroke:#e2e8f0;stroke-width:1}.axis{stroke:#4a5568;stroke-width:1}</style>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="8" y="20" class="small">${escapeXml(subtitle)}</text>`,
    results.valid
      ? ''
      : `<text x="${width - 8}" y="20" class="small" text-anchor="end">pale dashed bars: invalid runs</text>`,
    w1,
    w2,
    `</svg>`,
    '',
  ].join('\n');
}
