import { MemoryBroker } from '@unisocket/core';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { METRIC_NAMES, createMonitor, parsePrometheusText, type Monitor } from '../src/index';
import { closeHubs, connect, send, startHub, tick } from './hub-fixture';

const monitors: Monitor[] = [];
afterEach(async () => {
  for (const m of monitors.splice(0)) m.stop();
  await closeHubs();
});

function value(
  families: ReturnType<typeof parsePrometheusText>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

describe('PrometheusMetrics', () => {
  it('serves valid exposition text with HELP and TYPE for every unisocket_ metric, computed at scrape time', async () => {
    const hub = await startHub({ nodeId: 'n1' });
    const monitor = createMonitor({ hub, transports: ['native', 'socketio'] }).start();
    monitors.push(monitor);
    const a = connect(hub, 'native', 'alice');
    const b = connect(hub, 'socketio');
    send(hub, a.conn, { type: 'subscribe', channel: 'secret.channel-name' });
    send(hub, b.conn, { type: 'subscribe', channel: 'secret.channel-name' });
    send(hub, b.conn, { type: 'publish', channel: 'x', event: 'e', data: 1 }); // FORBIDDEN: clients may not publish
    for (let i = 0; i < 3; i++) hub.publish('secret.channel-name', 'e', i);
    await tick();
    monitor.collector.recordHttpRequest('health', 200);

    const text = await monitor.metrics();
    expect(monitor.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheusText(text);
    for (const name of METRIC_NAMES) {
      const f = families.get(name);
      expect(f, name).toBeDefined();
      expect(f!.help, name).toBeTruthy();
      expect(f!.type, name).not.toBe('untyped');
    }
    for (const f of families.values()) {
      expect(f.name.startsWith('unisocket_'), f.name).toBe(true);
      if (f.type === 'counter') expect(f.name.endsWith('_total'), f.name).toBe(true);
      for (const s of f.samples) {
        // low cardinality: never a channel, user or connection id
        for (const banned of ['channel', 'user', 'userId', 'connection', 'connectionId', 'id'])
          expect(s.labels).not.toHaveProperty(banned);
        expect(Object.values(s.labels).join()).not.toMatch(/secret|alice|n1-/);
      }
    }
    expect(value(families, 'unisocket_connections', { transport: 'native' })).toBe(1);
    expect(value(families, 'unisocket_connections', { transport: 'socketio' })).toBe(1);
    expect(value(families, 'unisocket_messages_out_total', { transport: 'socketio' })).toBe(3);
    expect(value(families, 'unisocket_messages_in_total', { transport: 'socketio' })).toBe(2);
    expect(value(families, 'unisocket_published_total')).toBe(3);
    expect(value(families, 'unisocket_errors_total', { code: 'FORBIDDEN' })).toBe(1);
    expect(value(families, 'unisocket_errors_total', { code: 'RATE_LIMITED' })).toBe(0);
    expect(value(families, 'unisocket_drops_total', { reason: 'slow_consumer' })).toBe(0);
    expect(value(families, 'unisocket_broker_state', { broker: 'memory', state: 'ready' })).toBe(1);
    expect(value(families, 'unisocket_broker_state', { broker: 'memory', state: 'degraded' })).toBe(0);
    expect(value(families, 'unisocket_publish_latency_seconds_count')).toBe(1);
    expect(value(families, 'unisocket_publish_latency_seconds_bucket', { le: '+Inf' })).toBe(1);
    expect(value(families, 'unisocket_http_requests_total', { endpoint: 'health', status: '200' })).toBe(1);
    expect(value(families, 'unisocket_users')).toBe(1);
    expect(value(families, 'unisocket_subscriptions')).toBe(hub.subscriptionCount);
    expect(value(families, 'unisocket_health', { status: 'healthy' })).toBe(1);
    expect(value(families, 'unisocket_memory_level')).toBe(0);
    expect(families.get('unisocket_publish_latency_seconds')!.type).toBe('histogram');

    // counters follow the live totals on the next scrape
    hub.publish('secret.channel-name', 'e', 4);
    await tick();
    const again = parsePrometheusText(await monitor.metrics());
    expect(value(again, 'unisocket_published_total')).toBe(4);
    expect(value(again, 'unisocket_publish_latency_seconds_count')).toBe(2);
  });

  it('uses a registry per monitor so two services in one process do not collide; a registry can be passed', async () => {
    const one = createMonitor({ hub: await startHub() });
    const two = createMonitor({ hub: await startHub() });
    monitors.push(one, two);
    expect(one.prometheus.registry).not.toBe(two.prometheus.registry);
    const registry = new Registry();
    const three = createMonitor({ hub: await startHub(), registry });
    monitors.push(three);
    expect(three.prometheus.registry).toBe(registry);
    expect(await registry.getSingleMetricAsString('unisocket_channels')).toMatch(/unisocket_channels 0/);
    expect(() => createMonitor({ hub: () => undefined, registry })).toThrow(/already been registered/);
    const merged = Registry.merge([one.prometheus.registry, new Registry()]);
    parsePrometheusText(await merged.metrics());
  });

  it('works before the Hub exists and optionally adds the Node.js default metrics, prefixed', async () => {
    const monitor = createMonitor({ hub: () => undefined, defaultMetrics: true });
    monitors.push(monitor);
    const families = parsePrometheusText(await monitor.metrics());
    expect(value(families, 'unisocket_connections', { transport: 'native' })).toBe(0);
    expect(value(families, 'unisocket_health', { status: 'unhealthy' })).toBe(1);
    expect(families.has('unisocket_process_cpu_seconds_total')).toBe(true);
    expect(families.has('unisocket_nodejs_heap_size_used_bytes')).toBe(true);
    for (const name of families.keys()) expect(name.startsWith('unisocket_')).toBe(true);
  });

  it('reports the broker state per state and drops by reason', async () => {
    class Switchable extends MemoryBroker {
      set(state: 'degraded' | 'ready'): void {
        this.setState(state);
      }
    }
    const broker = new Switchable({ maxPendingPublishes: 0 });
    const hub = await startHub({ broker });
    const monitor = createMonitor({ hub });
    monitors.push(monitor);
    broker.set('degraded');
    await expect(Promise.resolve(hub.publish('c', 'e', 1))).rejects.toThrow(/retry later/);
    const families = parsePrometheusText(await monitor.metrics());
    expect(value(families, 'unisocket_broker_state', { state: 'degraded' })).toBe(1);
    expect(value(families, 'unisocket_broker_state', { state: 'ready' })).toBe(0);
    expect(value(families, 'unisocket_drops_total', { reason: 'publish_refused' })).toBe(1);
    expect(value(families, 'unisocket_health', { status: 'degraded' })).toBe(1);
    broker.set('ready');
  });
});

describe('recovery metrics', () => {
  it('exposes history reads issued and merged, replays active and queued, the queue peak and refusals', async () => {
    const broker = new MemoryBroker();
    const history = broker.history;
    const read = history.read.bind(history);
    // a networked store answers later: the reads of a storm can be merged and replays wait for a slot
    (history as { read: typeof read }).read = (channel, after, limit) => {
      const value = read(channel, after, limit);
      return new Promise((resolve) => setTimeout(() => resolve(value), 5)) as never;
    };
    const hub = await startHub({ broker, recovery: { maxConcurrent: 2, maxQueued: 3 } });
    const monitor = createMonitor({ hub });
    monitors.push(monitor);
    await hub.publish('r', 'e', 1);
    const { epoch } = await history.position('r');
    for (let i = 0; i < 6; i++) {
      const c = connect(hub);
      send(hub, c.conn, { type: 'subscribe', channel: 'r', ref: 1, since: { epoch, offset: 0 } });
    }
    let families = parsePrometheusText(await monitor.metrics());
    expect(value(families, 'unisocket_recovery_replays', { state: 'active' })).toBe(2);
    expect(value(families, 'unisocket_recovery_replays', { state: 'queued' })).toBe(3);
    expect(value(families, 'unisocket_recovery_refused_total')).toBe(1);
    for (let i = 0; i < 100 && hub.recoveryStats().active + hub.recoveryStats().queued > 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    families = parsePrometheusText(await monitor.metrics());
    const issued = value(families, 'unisocket_recovery_reads_total', { result: 'issued' })!;
    const merged = value(families, 'unisocket_recovery_reads_total', { result: 'merged' })!;
    expect(issued + merged).toBe(5);
    expect(merged).toBeGreaterThan(0);
    expect(value(families, 'unisocket_recovery_queue_peak')).toBe(3);
    expect(monitor.getMetrics().recovery).toMatchObject({
      requests: 5,
      reads: issued,
      readsMerged: merged,
      refused: 1,
    });
  });
});

describe('parsePrometheusText', () => {
  it('rejects malformed exposition', () => {
    expect(() => parsePrometheusText('x 1')).toThrow(/newline/);
    expect(() => parsePrometheusText('# TYPE x gauge\nx{a="1} 1\n')).toThrow(/unterminated/);
    expect(() => parsePrometheusText('x{1a="1"} 1\n')).toThrow(/invalid label/);
    expect(() => parsePrometheusText('x one\n')).toThrow(/invalid value/);
    expect(() => parsePrometheusText('x 1\nx 2\n')).toThrow(/duplicate series/);
    expect(() => parsePrometheusText('# TYPE x gauge\n# TYPE x gauge\nx 1\n')).toThrow(/second TYPE/);
    expect(() => parsePrometheusText('x 1\ny 1\nx{a="b"} 2\n')).toThrow(/contiguous/);
    expect(() =>
      parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'),
    ).toThrow(/cumulative/);
    const ok = parsePrometheusText('# HELP x a help\n# TYPE x counter\nx_total{a="q\\"uote"} 1.5e3\n');
    expect(ok.get('x_total')?.samples[0]).toEqual({ name: 'x_total', labels: { a: 'q"uote' }, value: 1500 });
  });
});
