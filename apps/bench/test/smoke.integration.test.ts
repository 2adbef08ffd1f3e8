/**
 * End to end with real processes and sockets: a functional check that the harness measures something,
 * never a speed assertion.
 */
import { describe, expect, it } from 'vitest';
import { runThroughput } from '../src/workloads/w1.mjs';
import { runLatencyOnce, combineLatencyRuns } from '../src/workloads/w2.mjs';
import { runIdleMemory } from '../src/workloads/w3.mjs';
import { combineCrossNode, runCrossNodeOnce } from '../src/workloads/w4.mjs';
import { combineSlowConsumerRuns, runSlowConsumersOnce } from '../src/workloads/w5.mjs';
import { runReconnectStorm } from '../src/workloads/w6.mjs';
import { runClusterMemory } from '../src/workloads/w3b.mjs';
import { requireService } from '@unisocket/services';
import { cpuLayout } from '../src/proc.mjs';
import { MODES } from '../src/config.mjs';
import { canUseExtraLoopbackAddresses, sourceAddressPool } from '../src/machine.mjs';

async function context() {
  return {
    mode: 'quick' as const,
    params: MODES.quick,
    layout: cpuLayout(true),
    sourceAddresses: sourceAddressPool(await canUseExtraLoopbackAddresses()),
    log: () => {},
  };
}

const redisUp = await requireService('redis');
const kafkaUp = await requireService('kafka');

describe('bench harness end to end', () => {
  it('W1: ws-once delivers to 20 subscribers for 1 s', async () => {
    const r = await runThroughput(await context(), 'ws-once', {
      channels: 1,
      perChannel: 20,
      clientProcesses: 2,
      warmupMs: 0,
      durationMs: 1000,
      repeat: 1,
      burstPerChannel: 5,
    });
    expect(r.details.subscribers).toBe(20);
    expect(r.deliveriesPerSec).toBeGreaterThan(0);
    expect(r.cpuSecPerMillion).toBeGreaterThan(0);
    expect(r.details.delivered).toBe(r.details.expected); // nothing lost on a raw ws server
  });

  it('W1: counts newline-batched messages of a peer loaded from a file, on its own path', async () => {
    const peer = new URL('./fixtures/ws-batched-peer.mjs', import.meta.url).href;
    const r = await runThroughput(await context(), peer, {
      channels: 3,
      perChannel: 4,
      clientProcesses: 2,
      warmupMs: 0,
      durationMs: 500,
      repeat: 1,
      burstPerChannel: 3,
    });
    expect(r.details.subscribers).toBe(12);
    expect(r.details.delivered).toBeGreaterThan(0);
    expect(r.details.delivered).toBe(r.details.expected);
  });

  it('W2: socketio latencies are recorded from the scheduled send time', async () => {
    const run = await runLatencyOnce(
      await context(),
      'socketio',
      { perChannel: 10, clientProcesses: 2, warmupMs: 200, durationMs: 800, repeat: 1 },
      100,
    );
    const r = combineLatencyRuns([run]);
    expect(run.details.received).toBe(run.details.expected);
    expect(r.details.count).toBeGreaterThan(0);
    expect(r.p50Ms).toBeGreaterThan(0);
    expect(r.p999Ms).toBeGreaterThanOrEqual(r.p99Ms);
    expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
  });

  it('W1 and W2: unisocket-pusher is driven over the Pusher protocol and delivers everything', async () => {
    const r = await runThroughput(await context(), 'unisocket-pusher', {
      channels: 2,
      perChannel: 10,
      clientProcesses: 2,
      warmupMs: 0,
      durationMs: 500,
      repeat: 1,
      burstPerChannel: 5,
    });
    expect(r.details.subscribers).toBe(20);
    expect(r.details.delivered).toBeGreaterThan(0);
    expect(r.details.delivered).toBe(r.details.expected);
    const run = await runLatencyOnce(
      await context(),
      'unisocket-pusher',
      { perChannel: 10, clientProcesses: 2, warmupMs: 200, durationMs: 800, repeat: 1 },
      100,
    );
    expect(run.details.received).toBe(run.details.expected);
    expect(combineLatencyRuns([run]).p50Ms).toBeGreaterThan(0);
  });

  it('W3: ws-naive reports a per-connection memory cost', async () => {
    const r = await runIdleMemory(await context(), 'ws-naive', {
      connections: 200,
      channels: 10,
      clientProcesses: 2,
      settleMs: 100,
    });
    expect(r.details.connections).toBe(200);
    expect(Number.isFinite(r.heapBytesPerConn)).toBe(true);
    expect(r.valid).toBe(true);
  });

  it('W5: slow consumers stop reading, the others are measured and the server RSS is sampled', async () => {
    const p = {
      perChannel: 100,
      clientProcesses: 2,
      warmupMs: 200,
      durationMs: 1000,
      repeat: 1,
      slowFraction: 0.02,
      rssEveryMs: 100,
    };
    const run = await runSlowConsumersOnce(await context(), 'unisocket-native', p, 100);
    expect(run.details.slowSubscribers).toBe(2);
    // everything published reached the 98 subscribers that kept reading
    expect(run.details.received).toBe(run.details.expected);
    expect(run.details.expected).toBe(run.details.published * 98);
    expect(run.details.rss?.samples).toBeGreaterThan(5);
    const r = combineSlowConsumerRuns([run], 10);
    expect(r.p50Ms).toBeGreaterThan(0);
    expect(Number.isFinite(r.rssGrowthBytes)).toBe(true);
  });

  it.skipIf(!redisUp || !kafkaUp)(
    'W4: unisocket-native across two nodes on Redis and on Kafka, next to its same-node baseline',
    { timeout: 90_000 },
    async () => {
      const ctx = await context();
      const p = {
        perChannel: 10,
        clientProcesses: 1,
        ratePerSec: 100,
        warmupMs: 300,
        durationMs: 1000,
        repeat: 1,
        settleMs: 1000,
        // 3 measured subscribers, 7 sinks (read, not parsed): what keeps the full run's load generator unsaturated
        measured: 3,
      };
      const same = await runCrossNodeOnce(ctx, 'unisocket-native', p, 'same');
      const redis = await runCrossNodeOnce(ctx, 'unisocket-native', p, 'redis');
      const kafka = await runCrossNodeOnce(ctx, 'unisocket-native', p, 'kafka');
      for (const run of [same, redis, kafka]) {
        expect(run.details.subscribers).toBe(10);
        expect(run.details).toMatchObject({ measuredSubscribers: 3, sinkSubscribers: 7 });
        // every message published on node A reached every measured subscriber on node B, and the sinks read at least
        // the payload bytes of every message
        expect(run.details.received).toBe(run.details.expected);
        expect(run.details.expected).toBe(run.details.published * 3);
        expect(run.details.sinkBytes).toBeGreaterThanOrEqual(7 * run.details.published * 100);
      }
      const r = combineCrossNode({ same: [same], redis: [redis], kafka: [kafka] });
      expect(Number.isFinite(r.addedP50Ms)).toBe(true);
      expect(Number.isFinite(r.kafkaAddedP99Ms)).toBe(true);
    },
  );

  it.skipIf(!redisUp)('W4: Socket.IO across two nodes with @socket.io/redis-adapter', { timeout: 60_000 }, async () => {
    const p = {
      perChannel: 10,
      clientProcesses: 1,
      ratePerSec: 100,
      warmupMs: 300,
      durationMs: 1000,
      repeat: 1,
      settleMs: 500,
    };
    const run = await runCrossNodeOnce(await context(), 'socketio', p, 'redis');
    expect(run.details.received).toBe(run.details.expected);
  });

  it.skipIf(!redisUp)(
    'W6: a tiny reconnect storm on Redis: node A SIGKILLed, unisocket-native clients counted on node B',
    { timeout: 60_000 },
    async () => {
      const r = await runReconnectStorm(await context(), 'unisocket-native', {
        clients: 100,
        channels: 10,
        ratePerSec: 100,
        clientProcesses: 1,
        liveMs: 300,
        settleMs: 1000,
        stormTimeoutMs: 20_000,
        tailMs: 200,
        drainMs: 5_000,
      });
      // the harness measured: every client was counted, lost/duplicated were counted (never a speed assertion)
      expect(r.clients).toBe(100);
      expect(r.details.clientsNeverDisconnected).toBe(0);
      expect(r.recoveredPct).toBeGreaterThanOrEqual(0);
      expect(Number.isInteger(r.lost)).toBe(true);
      expect(Number.isInteger(r.duplicated)).toBe(true);
      expect(r.details.published).toBeGreaterThan(0);
      expect(r.nodeBCpuSec).toBeGreaterThan(0);
      expect(r.redisCommands).toBeGreaterThan(0);
    },
  );

  it.skipIf(!redisUp)(
    'W3b: unisocket-native over 2 node:cluster workers on Redis reports a per-connection memory cost',
    { timeout: 60_000 },
    async () => {
      const r = await runClusterMemory(await context(), 'unisocket-native', {
        connections: 200,
        channels: 10,
        workers: 2,
        clientProcesses: 1,
        settleMs: 100,
      });
      expect(r.details.connections).toBe(200);
      expect(r.details.perWorkerAfter).toHaveLength(2);
      expect(Number.isFinite(r.heapBytesPerConn)).toBe(true);
      expect(r.acceptMs).toBeGreaterThan(0);
    },
  );
});
