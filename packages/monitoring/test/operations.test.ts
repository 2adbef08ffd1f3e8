import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BREAKER_STATES,
  type BreakerStatus,
  HealthChecker,
  METRIC_NAMES,
  type Monitor,
  OPERATIONS_METRIC_NAMES,
  type OperationsSnapshot,
  QUEUE_JOB_STATES,
  type QueueJobCounts,
  StatisticsCollector,
  createMonitor,
  parsePrometheusText,
} from '../src/index';
import { closeHubs, startHub } from './hub-fixture';

const monitors: Monitor[] = [];
afterEach(async () => {
  for (const m of monitors.splice(0)) m.stop();
  await closeHubs();
});

function breaker(name: string, state: BreakerStatus['state'], calls: Partial<BreakerStatus> = {}): BreakerStatus {
  return { name, state, since: 1_700_000_000_000, failures: 0, successes: 0, rejected: 0, ...calls };
}

const counts = (c: Partial<QueueJobCounts> = {}): QueueJobCounts => ({
  waiting: 0,
  delayed: 0,
  active: 0,
  completed: 0,
  failed: 0,
  ...c,
});

/** A fake operations source the test mutates, as a service would keep its breakers and counters. */
function fakeOperations(): { snapshot: OperationsSnapshot; source: () => OperationsSnapshot; calls: number } {
  const fake = {
    snapshot: { breakers: [] } as OperationsSnapshot,
    calls: 0,
    source: (): OperationsSnapshot => {
      fake.calls++;
      return fake.snapshot;
    },
  };
  return fake;
}

type Families = ReturnType<typeof parsePrometheusText>;
function value(families: Families, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.get(name);
  const s = f?.samples.find(
    (x) =>
      Object.keys(labels).length === Object.keys(x.labels).length &&
      Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
  return s?.value;
}
const samples = (families: Families, name: string): number => families.get(name)?.samples.length ?? -1;

describe('operations in health', () => {
  it('warns per open or isolated breaker, naming it; a queue: breaker open degrades', async () => {
    const hub = await startHub();
    const ops = fakeOperations();
    const health = new HealthChecker({ hub, operations: ops.source });

    ops.snapshot = { breakers: [breaker('webhook:https://a.example/hook', 'closed'), breaker('queue:jobs', 'closed')] };
    let h = health.check();
    expect(h).toMatchObject({ status: 'healthy', warnings: [] });
    expect(h.breakers?.map((b) => `${b.name}=${b.state}`)).toEqual([
      'webhook:https://a.example/hook=closed',
      'queue:jobs=closed',
    ]);

    ops.snapshot = {
      breakers: [
        breaker('webhook:https://a.example/hook', 'open'),
        breaker('webhook:https://b.example/hook', 'isolated'),
        breaker('broker:publish', 'half-open'),
        breaker('queue:jobs', 'closed'),
      ],
    };
    h = health.check();
    expect(h.status).toBe('healthy'); // a webhook breaker does not change the status
    expect(h.warnings).toEqual([
      'circuit breaker "webhook:https://a.example/hook" is open',
      'circuit breaker "webhook:https://b.example/hook" is isolated',
    ]);

    ops.snapshot = { breakers: [breaker('queue:jobs', 'open')] };
    h = health.check();
    expect(h.status).toBe('degraded');
    expect(h.isHealthy).toBe(false);
    expect(h.warnings).toEqual(['circuit breaker "queue:jobs" is open: the queue cannot take jobs']);
    expect(h.errors).toEqual([]);

    // isolated by hand: named, status unchanged (the rule degrades on open only)
    ops.snapshot = { breakers: [breaker('queue:jobs', 'isolated')] };
    expect(health.check()).toMatchObject({ status: 'healthy', warnings: ['circuit breaker "queue:jobs" is isolated'] });
    ops.snapshot = { breakers: [breaker('queue:jobs', 'half-open')] };
    expect(health.check()).toMatchObject({ status: 'healthy', warnings: [] });
  });

  it('copies the breakers; a failing source is a warning, never a thrown check', async () => {
    const hub = await startHub();
    const b = breaker('queue:jobs', 'closed');
    const health = new HealthChecker({ hub, operations: () => ({ breakers: [b] }) });
    const h = health.check();
    b.state = 'open';
    expect(h.breakers?.[0]?.state).toBe('closed');

    const failing = new HealthChecker({
      hub,
      operations: () => {
        throw new Error('queue not ready');
      },
    });
    const f = failing.check();
    expect(f).toMatchObject({ status: 'healthy', warnings: ['operations source failed: queue not ready'] });
    expect(f).not.toHaveProperty('breakers');
    const garbage = new HealthChecker({ hub, operations: () => ({}) as OperationsSnapshot });
    expect(garbage.check().warnings.join()).toMatch(/must answer \{ breakers/);
  });

  it('has no breakers field and no new warning without a source; refuses a source that is not a function', async () => {
    const hub = await startHub();
    const h = new HealthChecker({ hub }).check();
    expect(h).not.toHaveProperty('breakers');
    expect(h.warnings).toEqual([]);
    expect(() => new HealthChecker({ hub, operations: { breakers: [] } as never })).toThrow(
      /operations must be a function returning \{ breakers/,
    );
  });
});

describe('operations in stats', () => {
  it('adds breakers, webhooks and queues from the source', async () => {
    const hub = await startHub();
    const ops = fakeOperations();
    ops.snapshot = {
      breakers: [breaker('webhook:https://a.example/hook', 'open', { failures: 5, successes: 2, rejected: 7 })],
      webhooks: { delivered: 10, failed: 1, dropped: 2, pendingEvents: 3 },
      queues: { broadcasts: counts({ waiting: 4, failed: 1 }), webhooks: counts({ delayed: 2 }) },
    };
    const collector = new StatisticsCollector({ hub, operations: ops.source });
    const stats = collector.getStats();
    expect(stats.breakers).toEqual([
      {
        name: 'webhook:https://a.example/hook',
        state: 'open',
        since: 1_700_000_000_000,
        failures: 5,
        successes: 2,
        rejected: 7,
      },
    ]);
    expect(stats.webhooks).toEqual({ delivered: 10, failed: 1, dropped: 2, pendingEvents: 3 });
    expect(stats.queues).toEqual({ broadcasts: counts({ waiting: 4, failed: 1 }), webhooks: counts({ delayed: 2 }) });
    expect(JSON.parse(JSON.stringify(stats)).queues.broadcasts.waiting).toBe(4);

    // only what the source has: no webhooks, no queue
    ops.snapshot = { breakers: [] };
    const bare = collector.getStats();
    expect(bare.breakers).toEqual([]);
    expect(bare).not.toHaveProperty('webhooks');
    expect(bare).not.toHaveProperty('queues');

    // before the Hub exists too
    const early = new StatisticsCollector({ hub: () => undefined, operations: () => ({ breakers: [] }) });
    expect(early.getStats().breakers).toEqual([]);
  });

  it('leaves the fields out without a source, or when the source throws', async () => {
    const hub = await startHub();
    for (const collector of [
      new StatisticsCollector({ hub }),
      new StatisticsCollector({
        hub,
        operations: () => {
          throw new Error('boom');
        },
      }),
    ]) {
      const stats = collector.getStats();
      for (const field of ['breakers', 'webhooks', 'queues']) expect(stats).not.toHaveProperty(field);
    }
  });

  it('reaches Monitor.getStats() and getMetrics().stats', async () => {
    const hub = await startHub();
    const monitor = createMonitor({
      hub,
      eventLoop: false,
      operations: () => ({ breakers: [breaker('x', 'closed')] }),
    });
    expect(monitor.getStats().breakers).toHaveLength(1);
    expect(monitor.getMetrics().stats.breakers).toHaveLength(1);
    expect(monitor.getHealthStatus().breakers).toHaveLength(1);
  });
});

describe('operations in Prometheus', () => {
  it('lists the new metrics in METRIC_NAMES', () => {
    for (const name of OPERATIONS_METRIC_NAMES) expect(METRIC_NAMES).toContain(name);
    expect(OPERATIONS_METRIC_NAMES).toEqual([
      'unisocket_circuit_breaker_state',
      'unisocket_circuit_breaker_calls_total',
      'unisocket_webhook_deliveries_total',
      'unisocket_webhook_pending_events',
      'unisocket_queue_jobs',
    ]);
  });

  it('exposes every breaker state, breaker calls, webhook deliveries and pending events, and queue jobs', async () => {
    const hub = await startHub();
    const ops = fakeOperations();
    ops.snapshot = {
      breakers: [
        breaker('webhook:https://a.example/hook?x="1"', 'open', { failures: 5, successes: 2, rejected: 7 }),
        breaker('queue:broadcasts', 'half-open', { failures: 1, successes: 40 }),
      ],
      webhooks: { delivered: 10, failed: 1, dropped: 2, pendingEvents: 3 },
      queues: { broadcasts: counts({ waiting: 4, delayed: 3, active: 2, completed: 99, failed: 1 }) },
    };
    const monitor = createMonitor({ hub, eventLoop: false, operations: ops.source });
    monitors.push(monitor);
    const families = parsePrometheusText(await monitor.metrics());
    for (const name of OPERATIONS_METRIC_NAMES) {
      expect(families.get(name)?.help, name).toBeTruthy();
    }
    expect(families.get('unisocket_circuit_breaker_state')?.type).toBe('gauge');
    expect(families.get('unisocket_circuit_breaker_calls_total')?.type).toBe('counter');
    expect(families.get('unisocket_webhook_deliveries_total')?.type).toBe('counter');
    expect(families.get('unisocket_webhook_pending_events')?.type).toBe('gauge');
    expect(families.get('unisocket_queue_jobs')?.type).toBe('gauge');

    const a = 'webhook:https://a.example/hook?x="1"'; // escaped in the text, read back as is
    for (const state of BREAKER_STATES) {
      expect(value(families, 'unisocket_circuit_breaker_state', { breaker: a, state }), state).toBe(
        state === 'open' ? 1 : 0,
      );
      expect(value(families, 'unisocket_circuit_breaker_state', { breaker: 'queue:broadcasts', state }), state).toBe(
        state === 'half-open' ? 1 : 0,
      );
    }
    expect(samples(families, 'unisocket_circuit_breaker_state')).toBe(2 * BREAKER_STATES.length);
    expect(value(families, 'unisocket_circuit_breaker_calls_total', { breaker: a, result: 'success' })).toBe(2);
    expect(value(families, 'unisocket_circuit_breaker_calls_total', { breaker: a, result: 'failure' })).toBe(5);
    expect(value(families, 'unisocket_circuit_breaker_calls_total', { breaker: a, result: 'rejected' })).toBe(7);
    expect(
      value(families, 'unisocket_circuit_breaker_calls_total', { breaker: 'queue:broadcasts', result: 'success' }),
    ).toBe(40);
    expect(value(families, 'unisocket_webhook_deliveries_total', { result: 'delivered' })).toBe(10);
    expect(value(families, 'unisocket_webhook_deliveries_total', { result: 'failed' })).toBe(1);
    expect(value(families, 'unisocket_webhook_deliveries_total', { result: 'dropped' })).toBe(2);
    expect(value(families, 'unisocket_webhook_pending_events')).toBe(3);
    const expected = { waiting: 4, delayed: 3, active: 2, completed: 99, failed: 1 };
    for (const state of QUEUE_JOB_STATES) {
      expect(value(families, 'unisocket_queue_jobs', { queue: 'broadcasts', state }), state).toBe(expected[state]);
    }
    expect(value(families, 'unisocket_health', { status: 'healthy' })).toBe(1); // half-open queue breaker: healthy

    // read at scrape time: the next scrape follows the source
    ops.snapshot = { breakers: [breaker('queue:broadcasts', 'open', { rejected: 3 })] };
    const again = parsePrometheusText(await monitor.metrics());
    expect(value(again, 'unisocket_circuit_breaker_state', { breaker: 'queue:broadcasts', state: 'open' })).toBe(1);
    expect(value(again, 'unisocket_circuit_breaker_state', { breaker: a, state: 'open' })).toBeUndefined();
    expect(samples(again, 'unisocket_webhook_deliveries_total')).toBe(0);
    expect(samples(again, 'unisocket_webhook_pending_events')).toBe(0);
    expect(samples(again, 'unisocket_queue_jobs')).toBe(0);
    expect(value(again, 'unisocket_health', { status: 'degraded' })).toBe(1);
  });

  it('reads the source once per scrape for the metrics (plus once for health)', async () => {
    const hub = await startHub();
    const ops = fakeOperations();
    ops.snapshot = {
      breakers: [breaker('b', 'closed')],
      webhooks: { delivered: 1, failed: 0, dropped: 0, pendingEvents: 0 },
    };
    const monitor = createMonitor({ hub, eventLoop: false, operations: ops.source });
    monitors.push(monitor);
    await monitor.metrics();
    expect(ops.calls).toBe(2);
  });

  it('takes queue gauges from queueCounts() at scrape time', async () => {
    const hub = await startHub();
    let asked = 0;
    const monitor = createMonitor({
      hub,
      eventLoop: false,
      // the cached counts are not used for the metric when queueCounts is given
      operations: () => ({ breakers: [], queues: { broadcasts: counts({ waiting: 1 }) } }),
      queueCounts: async () => {
        asked++;
        return { broadcasts: counts({ waiting: 7, failed: 2 }), webhooks: counts({ active: 1 }) };
      },
    });
    monitors.push(monitor);
    const families = parsePrometheusText(await monitor.metrics());
    expect(asked).toBe(1);
    expect(value(families, 'unisocket_queue_jobs', { queue: 'broadcasts', state: 'waiting' })).toBe(7);
    expect(value(families, 'unisocket_queue_jobs', { queue: 'broadcasts', state: 'failed' })).toBe(2);
    expect(value(families, 'unisocket_queue_jobs', { queue: 'webhooks', state: 'active' })).toBe(1);
    expect(samples(families, 'unisocket_queue_jobs')).toBe(2 * QUEUE_JOB_STATES.length);
    expect(monitor.getStats().queues?.broadcasts?.waiting).toBe(1); // stats keep the sync source
    await monitor.metrics();
    expect(asked).toBe(2);
  });

  it('does not hang on a queueCounts() that never answers: the scrape ends within the timeout without queue gauges', async () => {
    const hub = await startHub();
    let asked = 0;
    const monitor = createMonitor({
      hub,
      eventLoop: false,
      operations: () => ({ breakers: [breaker('queue:broadcasts', 'open')] }),
      queueCounts: () => {
        asked++;
        return new Promise(() => {}); // a dead Redis
      },
      queueCountsTimeoutMs: 100,
    });
    monitors.push(monitor);
    const started = performance.now();
    const text = await Promise.race([
      monitor.metrics(),
      new Promise<string>((_, reject) => setTimeout(() => reject(new Error('metrics() hung')), 1_000)),
    ]);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(90);
    expect(took).toBeLessThan(1_000);
    const families = parsePrometheusText(text);
    expect(families.has('unisocket_queue_jobs')).toBe(true); // HELP and TYPE, no samples
    expect(samples(families, 'unisocket_queue_jobs')).toBe(0);
    // the rest of the scrape is there
    expect(value(families, 'unisocket_circuit_breaker_state', { breaker: 'queue:broadcasts', state: 'open' })).toBe(1);
    expect(value(families, 'unisocket_health', { status: 'degraded' })).toBe(1);

    // a second scrape waits on the call still in flight instead of adding one per scrape
    parsePrometheusText(await monitor.metrics());
    expect(asked).toBe(1);
    // a call unanswered for over a minute is given up on: the next scrape calls again
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 61_000);
      expect(samples(parsePrometheusText(await monitor.metrics()), 'unisocket_queue_jobs')).toBe(0);
      expect(asked).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('waits at most the default 500 ms for queueCounts()', async () => {
    const monitor = createMonitor({
      hub: await startHub(),
      eventLoop: false,
      queueCounts: () => new Promise(() => {}),
    });
    monitors.push(monitor);
    const started = performance.now();
    const families = parsePrometheusText(await monitor.metrics());
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(samples(families, 'unisocket_queue_jobs')).toBe(0);
  });

  it('leaves the queue gauges out when queueCounts() rejects or throws, and asks again next scrape', async () => {
    const hub = await startHub();
    let mode: 'reject' | 'throw' | 'ok' = 'reject';
    const monitor = createMonitor({
      hub,
      eventLoop: false,
      queueCounts: () => {
        if (mode === 'throw') throw new Error('not connected');
        if (mode === 'reject') return Promise.reject(new Error('ECONNREFUSED'));
        return Promise.resolve({ q: counts({ waiting: 5 }) });
      },
    });
    monitors.push(monitor);
    expect(samples(parsePrometheusText(await monitor.metrics()), 'unisocket_queue_jobs')).toBe(0);
    mode = 'throw';
    expect(samples(parsePrometheusText(await monitor.metrics()), 'unisocket_queue_jobs')).toBe(0);
    mode = 'ok';
    const families = parsePrometheusText(await monitor.metrics());
    expect(value(families, 'unisocket_queue_jobs', { queue: 'q', state: 'waiting' })).toBe(5);
  });

  it('has the families but no samples without a source; refuses bad options', async () => {
    const hub = await startHub();
    const monitor = createMonitor({ hub, eventLoop: false });
    monitors.push(monitor);
    const families = parsePrometheusText(await monitor.metrics());
    for (const name of OPERATIONS_METRIC_NAMES) {
      expect(families.has(name), name).toBe(true);
      expect(samples(families, name), name).toBe(0);
    }
    expect(() => createMonitor({ hub, operations: 'x' as never })).toThrow(/operations must be a function/);
    expect(() => createMonitor({ hub, queueCounts: {} as never })).toThrow(/queueCounts must be an async function/);
    expect(() => createMonitor({ hub, queueCounts: async () => ({}), queueCountsTimeoutMs: 0 })).toThrow(
      /queueCountsTimeoutMs must be a positive number/,
    );
  });
});
