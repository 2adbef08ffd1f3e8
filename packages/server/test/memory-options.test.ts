import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createUnifiedWebSocketService, optionsFromEnv, type UnifiedWebSocketService } from '../src/index';
import { startServer, type TestServer } from './helpers';

const servers: TestServer[] = [];
const services: UnifiedWebSocketService[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(services.splice(0).map((s) => s.shutdown()));
});

describe('memory, backpressure and dedupe options', () => {
  it('maps the seed environment variables', () => {
    const { options, used } = optionsFromEnv({
      MEMORY_WARNING_THRESHOLD: '60',
      MEMORY_CRITICAL_THRESHOLD: '75.5',
      MEMORY_EMERGENCY_THRESHOLD: '90',
      MEMORY_CHECK_INTERVAL: '2000',
      DEDUPE_CACHE_SIZE: '5000',
      DEDUPE_WINDOW: '30000',
      MESSAGE_BATCH_SIZE: '50',
      MESSAGE_BATCH_DELAY: '10',
    });
    expect(options.memory).toEqual({
      thresholds: { warning: 60, critical: 75.5, emergency: 90 },
      sampleIntervalMs: 2000,
    });
    expect(options.dedupe).toEqual({ cacheSize: 5000, windowMs: 30000 });
    expect(options.batch).toEqual({ maxMessages: 50, delayMs: 10 });
    expect(Object.keys(used)).toContain('DEDUPE_WINDOW');
    expect(() => optionsFromEnv({ MEMORY_WARNING_THRESHOLD: '170' })).toThrow(
      /MEMORY_WARNING_THRESHOLD must be a percentage/,
    );
    expect(() => optionsFromEnv({ DEDUPE_CACHE_SIZE: 'lots' })).toThrow(/DEDUPE_CACHE_SIZE must be an integer/);
    // env thresholds that contradict each other are caught by the factory
    expect(() => createUnifiedWebSocketService(optionsFromEnv({ MEMORY_WARNING_THRESHOLD: '90' }).options)).toThrow(
      /warning \(90\) < critical \(85\)/,
    );
  });

  it('rejects bad options with a TypeError that says what to change', () => {
    const make = (o: object) => () => createUnifiedWebSocketService(o as never);
    expect(make({ memory: { thresholds: { warning: 80, critical: 75 } } })).toThrow(/warning \(80\) < critical \(75\)/);
    expect(make({ memory: { sampleIntervalMs: -1 } })).toThrow(/memory: sampleIntervalMs must be an integer/);
    expect(make({ memory: { shrinkFactor: 2 } })).toThrow(/memory.shrinkFactor must be a number in \(0, 1\]/);
    expect(make({ memory: { leakDetection: { buckets: 1 } } })).toThrow(
      /memory.leakDetection: buckets must be at least 3/,
    );
    expect(make({ memory: { thresholds: { warn: 1 } } })).toThrow(/unknown memory threshold "warn"/);
    expect(make({ memory: { interval: 1 } })).toThrow(/unknown option memory.interval/);
    expect(make({ backpressure: { policies: [{ pattern: 'x', policy: 'drop' }] } })).toThrow(
      /backpressure.policies\[0\].policy must be one of disconnect, drop-oldest, coalesce-latest/,
    );
    expect(make({ dedupe: { cacheSize: 0 } })).toThrow(/dedupe.cacheSize must be a positive integer/);
    expect(make({ dedupe: { size: 1 } })).toThrow(/unknown option dedupe.size/);
    expect(make({ dedupe: { cacheSize: 5 }, broker: { type: 'redis', dedupeWindow: 10 } })).toThrow(
      /set dedupe.cacheSize or broker.dedupeWindow, not both/,
    );
    // monitoring's own level source contradicts the service's memory management
    expect(make({ monitoring: { memory: { level: 'normal' } } })).toThrow(
      /only apply with memory: \{ enabled: false \}/,
    );
    expect(make({ monitoring: { memoryThresholds: { warning: 60 } } })).toThrow(
      /set the thresholds in memory.thresholds/,
    );
    expect(make({ memory: { enabled: false }, monitoring: { memory: { level: 'normal' } } })).not.toThrow();
  });

  it('wires DEDUPE_CACHE_SIZE / DEDUPE_WINDOW to the idempotency cache', async () => {
    const s = await startServer({ dedupe: { cacheSize: 2, windowMs: 200 } });
    servers.push(s);
    const publish = (id: string) => s.service.broadcast('c', 'e', id, { id });
    expect((await publish('a')).duplicate).toBeUndefined();
    expect((await publish('a')).duplicate).toBe(true);
    await publish('b');
    await publish('c'); // 'a' is now the least recently used of three: forgotten
    expect((await publish('a')).duplicate).toBeUndefined();
    await new Promise((r) => setTimeout(r, 250)); // past the window
    expect((await publish('a')).duplicate).toBeUndefined();
  });

  it('applies backpressure options from the factory and reports their drops in the stats and metrics', async () => {
    const s = await startServer({ backpressure: { default: 'coalesce-latest' } });
    servers.push(s);
    // a connection whose socket holds more than the low-water mark: backed up
    const socket = { bufferedBytes: 200_000, sendFrame() {}, sendBatch() {}, close() {} };
    const conn = s.service.hub.addConnection({ socket, transport: 'test', ip: '127.0.0.1' });
    s.service.hub.handleText(conn, JSON.stringify({ type: 'subscribe', channel: 'state' }));
    for (let i = 0; i < 5; i++) await s.service.broadcast('state', 'e', i);
    await new Promise((r) => setImmediate(r));
    expect(s.service.hub.stats.drops).toEqual({ 'drop-oldest': 0, 'coalesce-latest': 4, shed: 0 });
    expect(s.service.getStats().drops).toMatchObject({ coalesced: 4, drop_oldest: 0, shed: 0 });
    expect(await s.service.metrics()).toMatch(/unisocket_drops_total\{reason="coalesced"\} 4/);
    s.service.hub.removeConnection(conn);
  });

  it('answers forceMemoryAnalysis with the seed shape, extended, also with memory management off', async () => {
    for (const enabled of [true, false]) {
      const service = createUnifiedWebSocketService({ memory: { enabled } });
      services.push(service);
      await service.initialize(createServer());
      const a = service.forceMemoryAnalysis();
      expect(a.process.heapUsed).toBeGreaterThan(0);
      expect(a.process.oldGenerationLimit).toBeLessThan(a.process.heapLimit);
      expect(a.service).toMatchObject({
        connections: 0,
        historyMessages: 0,
        historySize: 100,
        bufferedBytes: 0,
        dedupeCacheEntries: 0,
      });
      expect(a.analysis).toMatchObject({
        level: 'normal',
        thresholds: { warning: 70, critical: 85, emergency: 95 },
        degradation: { active: [] },
      });
      expect(a.analysis.leak === null).toBe(!enabled);
      expect(a.analysis.levelSource).toBe(enabled ? 'source' : 'heap');
      expect(a.analysis.heapLimitBytes).toBe(enabled ? Math.floor(a.process.oldGenerationLimit * 0.8) : null);
      expect(service.getHealthStatus()).toMatchObject({
        status: 'healthy',
        memoryLevel: 'normal',
        connectionHealth: true,
      });
    }
  });
});
