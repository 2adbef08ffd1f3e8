import { MemoryBroker } from '@unisocket/core';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoopMonitor, HealthChecker } from '../src/index';
import { closeHubs, connect, startHub } from './hub-fixture';

afterEach(closeHubs);

/** A memory broker whose state the test sets (setState is the hook every backend uses). */
class SwitchableBroker extends MemoryBroker {
  set(state: 'ready' | 'degraded', detail?: string): void {
    this.setState(state, detail);
  }
}

describe('HealthChecker', () => {
  it('is unhealthy before start and while shutting down', async () => {
    let shutting = false;
    let hubRef: Awaited<ReturnType<typeof startHub>> | undefined;
    const health = new HealthChecker({ hub: () => hubRef, shuttingDown: () => shutting });
    expect(health.check()).toMatchObject({ status: 'unhealthy', isHealthy: false, connectionHealth: false });
    expect(health.check().errors.join()).toMatch(/not started/);
    hubRef = await startHub();
    expect(health.check()).toMatchObject({
      status: 'healthy',
      isHealthy: true,
      warnings: [],
      errors: [],
      connectionHealth: true,
    });
    shutting = true;
    expect(health.check()).toMatchObject({ status: 'unhealthy', errors: ['shutting down'] });
  });

  it('is degraded while the broker is down and unhealthy once it is closed', async () => {
    const broker = new SwitchableBroker();
    const hub = await startHub({ broker });
    const health = new HealthChecker({ hub });
    broker.set('degraded', 'ECONNREFUSED');
    const h = health.check();
    expect(h.status).toBe('degraded');
    expect(h.warnings.join()).toMatch(/broker memory is degraded: ECONNREFUSED/);
    expect(h.broker).toMatchObject({ kind: 'memory', state: 'degraded' });
    const queued = Promise.resolve(hub.publish('c', 'e', 1)).catch(() => 'refused');
    expect(health.check()).toMatchObject({ queueHealth: false });
    expect(health.check().warnings.join()).toMatch(/1 publishes are waiting for the broker/);
    await broker.close(); // refuses what waits
    expect(await queued).toBe('refused');
    expect(health.check()).toMatchObject({ status: 'unhealthy', queueHealth: true });
    expect(health.check().errors.join()).toMatch(/broker memory is closed/);
  });

  it('follows a pluggable memory level source: warning → warning, critical → degraded, emergency → unhealthy', async () => {
    const hub = await startHub();
    const manager = { level: 'normal' as 'normal' | 'warning' | 'critical' | 'emergency' };
    const health = new HealthChecker({ hub, memory: manager });
    expect(health.check()).toMatchObject({ status: 'healthy', memoryLevel: 'normal' });
    manager.level = 'warning';
    expect(health.check()).toMatchObject({ status: 'healthy', memoryLevel: 'warning' });
    expect(health.check().warnings.join()).toMatch(/memory level warning .*memory manager/);
    manager.level = 'critical';
    expect(health.check().status).toBe('degraded');
    manager.level = 'emergency';
    expect(health.check()).toMatchObject({ status: 'unhealthy', memoryLevel: 'emergency' });
    const fn = new HealthChecker({ hub, memory: () => 'critical' });
    expect(fn.check().memoryLevel).toBe('critical');
  });

  it('falls back to heap used vs the V8 heap limit with the thresholds', async () => {
    const hub = await startHub();
    const low = new HealthChecker({ hub, memoryThresholds: { warning: 0.001, critical: 0.002, emergency: 0.003 } });
    expect(low.check()).toMatchObject({ status: 'unhealthy', memoryLevel: 'emergency' });
    const normal = new HealthChecker({ hub });
    expect(normal.check().memoryUsage).toBeGreaterThan(0);
    expect(() => new HealthChecker({ hub, memoryThresholds: { warning: 90, critical: 80 } })).toThrow(/increase/);
    expect(() => new HealthChecker({ hub, memory: 'high' as never })).toThrow(TypeError);
  });

  it('degrades when the event loop stalls past criticalMs', async () => {
    const hub = await startHub();
    const eventLoop = new EventLoopMonitor({ resolutionMs: 10, windowMs: 1_000 }).start();
    try {
      const health = new HealthChecker({ hub, eventLoop, eventLoopThresholds: { warningMs: 50, criticalMs: 150 } });
      await new Promise((r) => setTimeout(r, 50));
      const end = Date.now() + 300;
      while (Date.now() < end); // block the loop
      await new Promise((r) => setTimeout(r, 60)); // let the sampling timer record the stall
      const h = health.check();
      expect(h.eventLoopLag.maxMs).toBeGreaterThan(150);
      expect(h.status).toBe('degraded');
      expect(h.warnings.join()).toMatch(/event loop delayed/);
    } finally {
      eventLoop.stop();
    }
  });

  it('degrades at the connection limit', async () => {
    const hub = await startHub();
    const health = new HealthChecker({ hub, maxConnections: 2 });
    connect(hub);
    connect(hub);
    expect(health.check()).toMatchObject({ status: 'degraded', connectionHealth: false });
  });
});
