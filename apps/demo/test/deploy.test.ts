import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePrometheusText } from '@unisocket/monitoring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Demo, startDemo } from '../src/demo';

const root = join(__dirname, '..', '..', '..');
const dashboard = JSON.parse(readFileSync(join(root, 'deploy', 'grafana', 'unisocket-dashboard.json'), 'utf8')) as {
  panels: { title: string; targets: { expr: string }[] }[];
};

/** Every PromQL expression of the dashboard. */
const expressions = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));

/** The metric names a PromQL expression reads (label matchers and label names of by/without stripped first). */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\[[^\]]*\]/g, ''); // ranges
  const functions = new Set([
    'sum',
    'max',
    'min',
    'avg',
    'count',
    'rate',
    'irate',
    'increase',
    'histogram_quantile',
    'label_values',
    'topk',
    'bottomk',
    'abs',
    'clamp_min',
    'clamp_max',
    'delta',
    'deriv',
    'time',
    'vector',
    'scalar',
  ]);
  return [...new Set(stripped.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [])].filter((name) => !functions.has(name));
}

let demo: Demo;
beforeAll(async () => {
  demo = await startDemo({ port: 0, env: {}, log: () => {} });
  // some traffic so that histograms and rates have samples
  const ws = new WebSocket(`ws://127.0.0.1:${demo.port}/ws`);
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'subscribe', channel: 'chat.lobby', ref: 1 }));
  await new Promise((resolve) => setTimeout(resolve, 100));
  await demo.service.broadcast('chat.lobby', 'say', { text: 'hello' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  ws.close();
});
afterAll(async () => {
  await demo.close();
});

describe('deploy artefacts', () => {
  it('every metric the Grafana dashboard queries exists in a live demo’s /metrics', async () => {
    await fetch(`${demo.url}/health`); // HTTP request series appear with the first request (a scrape counts too)
    const res = await fetch(`${demo.url}/metrics`);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheusText(await res.text());
    const sampleNames = new Set([...families.values()].flatMap((f) => f.samples.map((s) => s.name)));
    expect(expressions.length).toBeGreaterThan(10);
    const queried = new Set<string>();
    for (const { panel, expr } of expressions) {
      const names = metricNames(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        queried.add(name);
        expect(name.startsWith('unisocket_'), `${panel}: ${name}`).toBe(true);
        expect(sampleNames.has(name), `${panel}: ${name} is not in /metrics`).toBe(true);
      }
    }
    // the panels the issue asks for
    for (const name of [
      'unisocket_connections',
      'unisocket_messages_out_total',
      'unisocket_publish_latency_seconds_bucket',
      'unisocket_drops_total',
      'unisocket_memory_level',
    ]) {
      expect(queried.has(name), name).toBe(true);
    }
  });

  it('the dashboard’s job variable and the Prometheus scrape config point at the demo', () => {
    const yml = readFileSync(join(root, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8');
    expect(yml).toMatch(/^scrape_configs:/m);
    expect(yml).toMatch(/metrics_path: \/metrics/);
    expect(yml).toMatch(/targets: \['localhost:3000'\]/);
    expect(
      metricNames('sum by (le) (rate(unisocket_publish_latency_seconds_bucket{job=~"$job", le!="+Inf"}[5m]))'),
    ).toEqual(['unisocket_publish_latency_seconds_bucket']);
  });
});
