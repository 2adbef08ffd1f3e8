/** One sample line of the Prometheus text format. */
export interface PrometheusSample {
  /** The sample's name (`x_bucket`, `x_sum`, `x_count` for a histogram `x`). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family: its HELP, TYPE and samples. */
export interface PrometheusFamily {
  name: string;
  help: string | undefined;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: PrometheusSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/**
 * Parses and validates Prometheus text exposition format 0.0.4 (what `/metrics` serves), strictly enough for
 * tests: metric and label name syntax, label value escapes, numeric values, at most one HELP and TYPE per family
 * and before its samples, families contiguous, no duplicate series, histogram buckets cumulative with
 * `le="+Inf"` equal to `_count`. Throws an `Error` naming the line for anything else.
 */
export function parsePrometheusText(text: string): Map<string, PrometheusFamily> {
  const families = new Map<string, PrometheusFamily>();
  const seenSeries = new Set<string>();
  const closed = new Set<string>();
  let current: PrometheusFamily | undefined;
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new Error('the exposition must end with a newline');
  lines.pop();

  const family = (name: string, lineNo: number): PrometheusFamily => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, help: undefined, type: 'untyped', samples: [] };
      families.set(name, f);
    } else if (closed.has(name) && current !== f) {
      throw new Error(`line ${lineNo}: family ${name} is not contiguous`);
    }
    if (current !== undefined && current !== f) closed.add(current.name);
    current = f;
    return f;
  };

  lines.forEach((line, index) => {
    const lineNo = index + 1;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (m === null) return; // a plain comment
      const [, keyword, name, rest = ''] = m as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (!METRIC_NAME.test(name)) throw new Error(`line ${lineNo}: invalid metric name ${JSON.stringify(name)}`);
      const f = family(name, lineNo);
      if (keyword === 'HELP') {
        if (f.help !== undefined) throw new Error(`line ${lineNo}: second HELP for ${name}`);
        f.help = rest;
      } else {
        if (!TYPES.has(rest)) throw new Error(`line ${lineNo}: unknown TYPE ${JSON.stringify(rest)} for ${name}`);
        if (f.samples.length > 0) throw new Error(`line ${lineNo}: TYPE for ${name} after its samples`);
        if (f.type !== 'untyped' || (f as { typed?: boolean }).typed === true)
          throw new Error(`line ${lineNo}: second TYPE for ${name}`);
        f.type = rest as PrometheusFamily['type'];
        (f as { typed?: boolean }).typed = true;
      }
      return;
    }
    const sample = parseSample(line, lineNo);
    const base = familyName(sample.name, current);
    const f = family(base, lineNo);
    const key = `${sample.name}{${Object.entries(sample.labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',')}}`;
    if (seenSeries.has(key)) throw new Error(`line ${lineNo}: duplicate series ${key}`);
    seenSeries.add(key);
    f.samples.push(sample);
  });

  for (const f of families.values()) {
    delete (f as { typed?: boolean }).typed;
    if (f.type === 'histogram') checkHistogram(f);
  }
  return families;
}

/** The family a sample belongs to: `x_bucket`/`x_sum`/`x_count` belong to the histogram or summary `x` being read. */
function familyName(sampleName: string, current: PrometheusFamily | undefined): string {
  if (current !== undefined && (current.type === 'histogram' || current.type === 'summary')) {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (sampleName === current.name + suffix) return current.name;
    }
  }
  return sampleName;
}

function parseSample(line: string, lineNo: number): PrometheusSample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (m === null) throw new Error(`line ${lineNo}: invalid sample ${JSON.stringify(line)}`);
  const name = m[1]!;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const ln = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(i));
      if (ln === null || !LABEL_NAME.test(ln[1]!))
        throw new Error(`line ${lineNo}: invalid label at ${JSON.stringify(line.slice(i))}`);
      i += ln[0].length;
      let value = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new Error(`line ${lineNo}: unterminated label value`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i + 1];
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else throw new Error(`line ${lineNo}: invalid escape \\${String(e)}`);
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      i++; // closing quote
      if (Object.hasOwn(labels, ln[1]!)) throw new Error(`line ${lineNo}: label ${ln[1]} twice`);
      labels[ln[1]!] = value;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`line ${lineNo}: expected , or } at ${JSON.stringify(line.slice(i))}`);
    }
    i++;
  }
  const rest = line.slice(i);
  const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (vm === null)
    throw new Error(`line ${lineNo}: expected " value [timestamp]" after ${name}, got ${JSON.stringify(rest)}`);
  const raw = vm[1]!;
  // Go's ParseFloat semantics: NaN and Inf in any case (prom-client writes "Nan")
  const special = raw.toLowerCase();
  let value: number;
  if (special === 'nan') value = NaN;
  else if (special === '+inf' || special === 'inf') value = Infinity;
  else if (special === '-inf') value = -Infinity;
  else if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) value = Number(raw);
  else throw new Error(`line ${lineNo}: invalid value ${JSON.stringify(raw)}`);
  return { name, labels, value };
}

function checkHistogram(f: PrometheusFamily): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: a bucket without le`);
      g.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    } else if (s.name === `${f.name}_count`) g.count = s.value;
    else if (s.name === `${f.name}_sum`) g.sum = s.value;
    else throw new Error(`${f.name}: unexpected sample ${s.name} in a histogram`);
  }
  for (const g of groups.values()) {
    if (g.count === undefined || g.sum === undefined) throw new Error(`${f.name}: histogram without _count or _sum`);
    let previous = -Infinity;
    let value = 0;
    for (const [le, v] of g.buckets) {
      if (!(le > previous)) throw new Error(`${f.name}: buckets not in increasing le order`);
      if (v < value) throw new Error(`${f.name}: bucket counts are not cumulative`);
      previous = le;
      value = v;
    }
    if (previous !== Infinity) throw new Error(`${f.name}: no le="+Inf" bucket`);
    if (value !== g.count) throw new Error(`${f.name}: le="+Inf" (${value}) differs from _count (${g.count})`);
  }
}
