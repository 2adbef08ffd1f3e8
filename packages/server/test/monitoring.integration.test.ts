import { parsePrometheusText } from '@unisocket/monitoring';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { RawClient, type TestServer, startServer, waitFor } from './helpers';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}

describe('service monitoring', () => {
  it('getStats/getHealthStatus/getMetrics/forceMemoryAnalysis keep the seed shapes, with latency from real traffic', async () => {
    const s = await start();
    const client = await RawClient.open(s.url);
    await client.request({ type: 'subscribe', channel: 'news' });
    for (let i = 0; i < 20; i++) await s.service.broadcast('news', 'n', i);
    await waitFor(() => client.messages('news').length === 20);

    const stats = s.service.getStats();
    expect(stats).toMatchObject({ totalBroadcasts: 20, deliveries: 20, activeConnections: 1 });
    expect(stats.latency.samples).toBeGreaterThan(0);
    expect(stats.latency.p99Ms).toBeGreaterThanOrEqual(stats.latency.p50Ms);
    expect(stats.averageLatency).toBe(stats.latency.averageMs);

    const health = s.service.getHealthStatus();
    expect(Object.keys(health)).toEqual(
      expect.arrayContaining([
        'isHealthy',
        'status',
        'uptime',
        'memoryUsage',
        'connectionHealth',
        'queueHealth',
        'warnings',
        'errors',
        'lastCheck',
      ]),
    );

    const metrics = s.service.getMetrics();
    expect(metrics.transports.native).toMatchObject({ connections: 1, deliveries: 20 });
    expect(metrics.performance.latency.totalSamples).toBe(stats.latency.totalSamples);
    expect(metrics.hub?.published).toBe(20);

    const memory = s.service.forceMemoryAnalysis();
    expect(memory).toMatchObject({
      process: { heapUsed: expect.any(Number), heapLimit: expect.any(Number) },
      service: { connections: 1, channels: 1, historyMessages: 20 },
      // the service's memory management is the level source
      analysis: { level: 'normal', levelSource: 'source' },
    });
  });

  it('takes a memory level source, event-loop thresholds and a registry from options', async () => {
    const manager = { level: 'critical' as const };
    const registry = new Registry();
    const s = await start({
      memory: { enabled: false }, // a level source of one's own replaces the service's memory management
      monitoring: { memory: manager, registry, eventLoop: { windowMs: 1000, warningMs: 100, criticalMs: 500 } },
    });
    expect(s.service.getHealthStatus()).toMatchObject({ status: 'degraded', memoryLevel: 'critical' });
    expect(s.service.forceMemoryAnalysis().analysis).toMatchObject({ level: 'critical', levelSource: 'source' });
    const families = parsePrometheusText(await registry.metrics());
    expect(families.get('unisocket_memory_level')?.samples[0]?.value).toBe(2);
    expect(s.service.monitor.prometheus.registry).toBe(registry);
  });

  it('publishes a stats sample on the stats channel every interval', async () => {
    const s = await start({ monitoring: { statsChannel: { channel: 'sys.stats', intervalMs: 100 } } });
    const client = await RawClient.open(s.url);
    await client.request({ type: 'subscribe', channel: 'sys.stats' });
    await waitFor(() => client.messages('sys.stats').length >= 2, 3000);
    const [first] = client.messages('sys.stats');
    expect(first).toMatchObject({
      event: 'stats',
      data: {
        connections: 1,
        subscriptions: 1,
        rates: { published: expect.any(Number), deliveries: expect.any(Number) },
        latency: { p99Ms: expect.any(Number) },
        memory: { level: 'normal', heapUsed: expect.any(Number) },
        eventLoopLag: { p99Ms: expect.any(Number) },
        health: 'healthy',
      },
    });
    // an invalid stats channel is refused at construction
    await expect(start({ monitoring: { statsChannel: { channel: 'no spaces' } } })).rejects.toThrow(/statsChannel/);
  });

  it('two services in one process keep separate metrics', async () => {
    const a = await start();
    const b = await start();
    await RawClient.open(a.url);
    const text = (x: TestServer) => fetch(`http://127.0.0.1:${x.port}/metrics`).then((r) => r.text());
    const fa = parsePrometheusText(await text(a));
    const fb = parsePrometheusText(await text(b));
    expect(fa.get('unisocket_connections')!.samples[0]!.value).toBe(1);
    expect(fb.get('unisocket_connections')!.samples[0]!.value).toBe(0);
  });
});
