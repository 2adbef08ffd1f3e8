import { describe, expect, it } from 'vitest';
import { createHistogram, encodeHistogram, recordMs } from '../src/histogram.mjs';
import { type runLatencyOnce, summarizeRss } from '../src/workloads/w2.mjs';
import { combineCrossNode, nodesFor } from '../src/workloads/w4.mjs';
import { combineSlowConsumerRuns } from '../src/workloads/w5.mjs';
import { renderMarkdown } from '../src/report/markdown.mjs';
import { shapeResults } from '../src/results.mjs';

type LatencyRun = Awaited<ReturnType<typeof runLatencyOnce>>;

/** A latency run as runLatencyOnce returns it, with every sample at `ms` (only the fields the combiners read). */
function run(
  ms: number,
  { valid = true, rss }: { valid?: boolean; rss?: ReturnType<typeof summarizeRss> } = {},
): LatencyRun {
  const h = createHistogram();
  for (let i = 0; i < 1000; i++) recordMs(h, ms);
  return {
    histograms: [encodeHistogram(h)],
    verdict: { valid, reasons: valid ? [] : ['load generator saturated'], warnings: [] },
    details: { ...(rss ? { rss, slowSubscribers: 10, slowClosedByServer: 2 } : {}) },
  } as unknown as LatencyRun;
}

describe('W4 cross-node', () => {
  it('reports what each broker adds over the same-node baseline', () => {
    const r = combineCrossNode({ same: [run(1), run(1)], redis: [run(1.5)], kafka: [run(4)] });
    expect(r.valid).toBe(true);
    expect(r.addedP50Ms).toBeCloseTo(0.5, 2);
    expect(r.addedP99Ms).toBeCloseTo(0.5, 2);
    expect(r.kafkaAddedP50Ms).toBeCloseTo(3, 1);
    expect(r.sameNodeP50Ms).toBeCloseTo(1, 2);
    expect(r.details.redis?.p50Ms).toBeCloseTo(1.5, 2);
  });

  it('marks the result invalid when the baseline is, and says why', () => {
    const r = combineCrossNode({ same: [run(1, { valid: false })], redis: [run(2)] });
    expect(r.addedP50Ms).toBeCloseTo(1, 2);
    expect(r.valid).toBe(false);
    expect(combineCrossNode({ redis: [run(2)] }).addedP50Ms).toBeNaN();
    expect(r.reasons.join()).toContain('same: load generator saturated');
  });

  it('turns an unreachable broker into a warning, not a failure', () => {
    const r = combineCrossNode(
      { same: [run(1)], redis: [run(1.2)] },
      { kafka: 'Kafka not reachable at 127.0.0.1:9092' },
    );
    expect(r.valid).toBe(true);
    expect(r.kafkaAddedP50Ms).toBeNaN();
    expect(r.warnings).toContain('kafka: not measured: Kafka not reachable at 127.0.0.1:9092');
  });

  it('gives every run its own Redis prefix and Kafka topic, and both nodes the same', () => {
    const [a, b] = nodesFor('redis');
    expect(a?.broker).toEqual(b?.broker);
    expect(nodesFor('redis')[0]?.broker).not.toEqual(a?.broker);
    const [k] = nodesFor('kafka');
    expect(k?.broker).toMatchObject({ type: 'kafka', topic: expect.stringMatching(/^unisocket-bench\./) });
    expect(nodesFor('same')).toEqual([{}]);
  });
});

describe('W5 slow consumers', () => {
  it('summarizes RSS: growth over the window and what is left of it in the second half', () => {
    const mib = 2 ** 20;
    const plateau = summarizeRss([100, 110, 120, 120, 119, 120].map((x, i) => ({ at: i * 250, rss: x * mib })));
    expect(plateau.growthBytes).toBe(20 * mib);
    expect(plateau.secondHalfGrowthBytes).toBe(0);
    const growing = summarizeRss([100, 110, 120, 130, 140, 150].map((x, i) => ({ at: i * 250, rss: x * mib })));
    expect(growing.secondHalfGrowthBytes).toBe(30 * mib);
    expect(summarizeRss([]).growthBytes).toBeNaN();
  });

  it('compares the reading subscribers’ p99 with the same peer’s W2 p99', () => {
    const rss = summarizeRss([
      { at: 0, rss: 100 },
      { at: 250, rss: 150 },
    ]);
    const r = combineSlowConsumerRuns([run(3, { rss }), run(3, { rss })], 2);
    expect(r.p99VsW2).toBeCloseTo(1.5, 1);
    expect(r.rssGrowthBytes).toBe(50);
    expect(r.details.slowClosedByServer).toEqual([2, 2]);
    const alone = combineSlowConsumerRuns([run(3, { rss })], undefined);
    expect(alone.p99VsW2).toBeNaN();
    expect(alone.warnings.join()).toContain('needs W2');
  });

  it('checks the W4 and W5 targets in the report', () => {
    const results = shapeResults({
      machine: {
        date: 'today',
        cpuModel: 'cpu',
        cores: 2,
        memoryGiB: 1,
        node: 'v20',
        platform: 'linux',
        mode: 'full',
        pinned: false,
      } as never,
      peers: ['unisocket-native'],
      params: {},
      workloads: {
        W4: { 'unisocket-native': combineCrossNode({ same: [run(1)], redis: [run(1.4)] }) },
        W5: { 'unisocket-native': combineSlowConsumerRuns([run(3, { rss: summarizeRss([{ at: 0, rss: 1 }]) })], 2) },
      },
    });
    const md = renderMarkdown(results);
    expect(md).toMatch(/W4 p50 added across 2 nodes on Redis \(ms\): unisocket-native <= 1\.00 \| 0\.40 \| yes/);
    expect(md).toMatch(/W5 p99 ÷ own W2 p99: unisocket-native <= 2\.00 \| 1\.50 \| yes/);
  });
});
