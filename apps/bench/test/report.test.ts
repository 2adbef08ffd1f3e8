import { describe, expect, it } from 'vitest';
import { XMLValidator } from 'fast-xml-parser';
import { shapeResults } from '../src/results.mjs';
import { renderMarkdown } from '../src/report/markdown.mjs';
import { renderSvg, escapeXml, niceTicks } from '../src/report/svg.mjs';
import { ratio } from '../src/report/metrics.mjs';
import { combineThroughputRuns } from '../src/suite.mjs';
import { selectWorkloads } from '../src/workloads/index.mjs';
import { assignSubscriptions } from '../src/system.mjs';

const machine = {
  cpuModel: 'Test CPU',
  cores: 2,
  memoryGiB: 24,
  node: 'v20.20.2',
  platform: 'linux',
  date: '2026-01-01T00:00:00.000Z',
  mode: 'full' as const,
  pinned: true,
  serverCpus: '0',
  clientCpus: '1',
};

const ok = { valid: true, reasons: [], warnings: [] };

function sample(peers = ['ws-naive', 'ws-once', 'socketio', 'unisocket-native']) {
  const w1 = [100_000, 120_000, 50_000, 250_000, 150_000];
  const cpu = [9, 8, 10, 4, 5];
  const p99 = [20, 10, 40, 9, 12];
  const heap = [4000, 4000, 11000, 4500, 6000];
  const at = (arr: number[], p: string) =>
    arr[['ws-naive', 'ws-once', 'socketio', 'unisocket-native', 'unisocket-pusher'].indexOf(p)]!;
  return shapeResults({
    machine,
    peers,
    params: {
      W1: { channels: 1, perChannel: 1000, durationMs: 8000, repeat: 3, burstPerChannel: 5 },
      W2: { perChannel: 1000, durationMs: 15000, ratePerSec: 50, rateSource: 'test' },
    },
    workloads: {
      W1: Object.fromEntries(
        peers.map((p) => [p, { deliveriesPerSec: at(w1, p), cpuSecPerMillion: at(cpu, p), ...ok }]),
      ),
      W1_100x10: Object.fromEntries(
        peers.map((p) => [p, { deliveriesPerSec: at(w1, p) * 0.9, cpuSecPerMillion: at(cpu, p), ...ok }]),
      ),
      W2: Object.fromEntries(
        peers.map((p) => [
          p,
          {
            p50Ms: at(p99, p) / 4,
            p99Ms: at(p99, p),
            p999Ms: at(p99, p) * 2,
            ...(p === 'socketio'
              ? { valid: false, reasons: ['load generator #0 used 95% of a core (limit 90%)'], warnings: [] }
              : ok),
          },
        ]),
      ),
      W3: Object.fromEntries(peers.map((p) => [p, { heapBytesPerConn: at(heap, p), rssBytesPerConn: NaN, ...ok }])),
    },
  });
}

describe('results.json shape', () => {
  it('has workloads.W1/W2/W3 per peer with the required fields, machine info and validity flags', () => {
    const r = sample();
    expect(Object.keys(r.workloads)).toEqual(['W1', 'W1_100x10', 'W2', 'W3']);
    expect(r.workloads.W1!['ws-naive']).toMatchObject({ deliveriesPerSec: 100_000, cpuSecPerMillion: 9 });
    expect(r.workloads.W2!['ws-once']).toMatchObject({ p50Ms: 2.5, p99Ms: 10, p999Ms: 20 });
    expect(r.workloads.W3!.socketio).toMatchObject({ heapBytesPerConn: 11000 });
    expect(r.machine).toMatchObject({ cpuModel: 'Test CPU', cores: 2, node: 'v20.20.2', mode: 'full' });
    expect(r.valid).toBe(false);
    expect(r.invalid).toEqual(['W2/socketio: load generator #0 used 95% of a core (limit 90%)']);
  });

  it('writes missing numbers as null (JSON has no NaN)', () => {
    const r = sample();
    expect(r.workloads.W3!['ws-naive']!.rssBytesPerConn).toBeNull();
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('combines repeated W1 runs into medians and keeps failed runs as invalid', () => {
    const run = (d: number, c: number) => ({
      deliveriesPerSec: d,
      cpuSecPerMillion: c,
      ...ok,
      details: {} as Record<string, unknown>,
    });
    const c = combineThroughputRuns([run(100, 3), run(300, 1), run(200, 2)] as never);
    expect(c).toMatchObject({ deliveriesPerSec: 200, cpuSecPerMillion: 2, valid: true });
    const withFailure = combineThroughputRuns([run(100, 3), { error: 'boom' }] as never);
    expect(withFailure).toMatchObject({ deliveriesPerSec: 100, valid: true });
    expect(withFailure.warnings).toEqual(['1 of 2 runs excluded as invalid (run failed: boom)']);
  });

  it('takes the median of the valid runs only, and of all runs (invalid) when none is valid', () => {
    const run = (d: number, valid: boolean) => ({
      deliveriesPerSec: d,
      cpuSecPerMillion: 1,
      valid,
      reasons: valid ? [] : ['machine busy'],
      warnings: [],
      details: {} as Record<string, unknown>,
    });
    const mixed = combineThroughputRuns([run(10, false), run(100, true), run(120, true)] as never);
    expect(mixed).toMatchObject({ deliveriesPerSec: 110, valid: true, reasons: [] });
    expect(mixed.warnings).toEqual(['1 of 3 runs excluded as invalid (machine busy)']);
    expect(mixed.details.runs.map((r) => r.usedInMedian)).toEqual([false, true, true]);
    const none = combineThroughputRuns([run(10, false), run(30, false), run(20, false)] as never);
    expect(none).toMatchObject({ deliveriesPerSec: 20, valid: false, reasons: ['machine busy'] });
  });
});

describe('Markdown report', () => {
  it('shows absolute numbers and ratios against every peer present', () => {
    const md = renderMarkdown(sample());
    expect(md).toContain(
      '| W1 deliveries/s | 1 ch × 1000 subs, 8 s × 3, burst 5 | higher | 100,000 | 120,000 | 50,000 | 250,000 |',
    );
    expect(md).toContain('### ÷ ws-naive');
    expect(md).toContain('| W1 deliveries/s | higher | 1.20× | 0.50× | 2.50× |'); // ws-once, socketio, unisocket-native ÷ ws-naive
    expect(md).toContain('### ÷ socketio');
    expect(md).toContain('40.00 ⚠'); // an invalid result is marked
  });

  it('checks the targets when unisocket-native is present', () => {
    const md = renderMarkdown(sample());
    expect(md).toMatch(/W1 deliveries\/s: unisocket-native >= 2× ws-naive \| 2.50× \| yes/);
    expect(md).toMatch(/W1 deliveries\/s: unisocket-native >= 5× socketio \| 5.00× \| yes/);
    expect(md).toMatch(/W2 p99 latency \(ms\): unisocket-native <= 1× ws-once \| 0.90× \| yes/);
    expect(md).toMatch(/W3 heap bytes per idle connection: unisocket-native <= 1.25× ws-naive \| 1.13× \| yes/);
  });

  it('checks the Pusher transport against the native one', () => {
    const md = renderMarkdown(sample(['unisocket-native', 'unisocket-pusher']));
    expect(md).toMatch(/W1 server CPU-s per 1M deliveries: unisocket-pusher <= 1.5× unisocket-native \| 1.25× \| yes/);
    expect(md).toMatch(/W3 heap bytes per idle connection: unisocket-pusher <= 1.25× unisocket-native \| 1.33× \| no/);
  });

  it('works with a single peer and says no target applies', () => {
    const md = renderMarkdown(sample(['ws-once']));
    expect(md).not.toContain('## Ratios');
    expect(md).toContain('No target applies');
  });

  it('computes ratios only from numbers', () => {
    expect(ratio(2, 4)).toBe(0.5);
    expect(ratio(2, 0)).toBeNaN();
    expect(ratio(undefined, 4)).toBeNaN();
  });
});

describe('SVG chart', () => {
  it('is well-formed XML with a bar per peer and metric', () => {
    const svg = renderSvg(sample());
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg).toContain('unisocket-native');
    // 4 peers × (2 W1 bars + 2 W2 bars)
    expect(svg.match(/<rect [^>]*><title>/g)).toHaveLength(16);
  });

  it('stays well-formed with odd peer names and missing values', () => {
    const r = sample(['ws-naive']);
    r.peers = ['a<b&"c\'', 'ws-naive'];
    expect(XMLValidator.validate(renderSvg(r))).toBe(true);
    expect(escapeXml('<&>')).toBe('&lt;&amp;&gt;');
  });

  it('puts gridlines on round values', () => {
    expect(niceTicks(105_000)).toEqual([0, 25_000, 50_000, 75_000, 100_000, 125_000]);
    expect(niceTicks(9)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0)).toEqual([0, 1]);
  });
});

describe('harness plumbing', () => {
  it('selects workloads case-insensitively, W1 with its variants', () => {
    expect(selectWorkloads(['w1'])).toEqual(['W1', 'W1_100x10']);
    expect(selectWorkloads(['W3', 'W2'])).toEqual(['W2', 'W3']);
    expect(() => selectWorkloads(['W9'])).toThrow(/unknown workload/);
  });

  it('spreads subscribers evenly over client processes', () => {
    const out = assignSubscriptions(['a', 'b'], 3, 2);
    expect(out.map((l) => l.length)).toEqual([3, 3]);
    expect(out.flat().filter((c) => c === 'a')).toHaveLength(3);
  });
});
