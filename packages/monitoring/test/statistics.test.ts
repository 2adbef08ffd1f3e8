import { afterEach, describe, expect, it } from 'vitest';
import { StatisticsCollector } from '../src/index';
import { closeHubs, connect, send, startHub, tick } from './hub-fixture';

afterEach(closeHubs);

describe('StatisticsCollector', () => {
  it('reports every ServiceStats field of the seed, summed at read time over live and closed connections', async () => {
    const hub = await startHub();
    const collector = new StatisticsCollector({ hub, transports: ['native', 'socketio'] });
    const a = connect(hub, 'native', 'u1');
    const b = connect(hub, 'socketio', 'u2');
    const c = connect(hub, 'native', 'u1');
    for (const x of [a, b, c]) send(hub, x.conn, { type: 'subscribe', channel: 'news' });
    for (let i = 0; i < 5; i++) hub.publish('news', 'n', i);
    await tick();
    hub.removeConnection(c.conn);
    const stats = collector.getStats();
    for (const field of [
      'totalConnections',
      'activeConnections',
      'totalMessages',
      'totalBroadcasts',
      'droppedMessages',
      'duplicateMessages',
      'queueOverflows',
      'reconnections',
      'startTime',
      'lastActivity',
      'peakConnections',
      'uptime',
      'memoryUsage',
      'uniqueUsers',
      'averageLatency',
    ]) {
      expect(stats, field).toHaveProperty(field);
      expect(typeof (stats as unknown as Record<string, unknown>)[field], field).toBe('number');
    }
    expect(stats).toMatchObject({
      totalConnections: 3,
      activeConnections: 2,
      peakConnections: 3,
      totalBroadcasts: 5,
      totalMessages: 5 + 3, // 3 subscribe commands
      deliveries: 15,
      uniqueUsers: 2,
      channels: 3, // news, and the user channels user:u1 and user:u2
      droppedMessages: 0,
    });
    expect(stats.channels).toBe(hub.channelCount);
    expect(stats.latency.samples).toBe(1); // one batch of 5 messages to 3 subscribers: one sample
    expect(stats.latency.maxMs).toBeGreaterThanOrEqual(0);
    expect(stats.lastActivity).toBeGreaterThanOrEqual(stats.startTime);

    const transports = collector.transports();
    expect(transports.native).toMatchObject({ connections: 1, deliveries: 10 });
    expect(transports.socketio).toMatchObject({ connections: 1, deliveries: 5 });
    expect(transports.native!.bytesOut + transports.socketio!.bytesOut).toBe(stats.bytesOut);
  });

  it('works before the Hub exists (zeros) and counts drops recorded from outside', () => {
    const collector = new StatisticsCollector({ hub: () => undefined });
    collector.recordDrop('event_source', 2);
    const stats = collector.getStats();
    expect(stats).toMatchObject({ activeConnections: 0, totalConnections: 0, droppedMessages: 2 });
    expect(stats.drops).toMatchObject({
      slow_consumer: 0,
      publish_refused: 0,
      gap_lost: 0,
      duplicate: 0,
      event_source: 2,
    });
    expect(Object.keys(stats.errors)).toContain('RATE_LIMITED');
  });

  it('sample() gives per-second rates since the previous sample', async () => {
    const hub = await startHub();
    const collector = new StatisticsCollector({ hub });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'c' });
    collector.sample();
    for (let i = 0; i < 10; i++) hub.publish('c', 'e', i);
    await tick();
    await new Promise((r) => setTimeout(r, 100));
    const s = collector.sample();
    expect(s.totals.published).toBe(10);
    expect(s.rates.published).toBeGreaterThan(10); // 10 in about 0.1 s
    expect(s.rates.deliveries).toBeGreaterThan(10);
    expect(s.connections).toBe(1);
  });

  it('counts slow consumers as drops and queue overflows', async () => {
    const hub = await startHub({ limits: { maxBufferedBytes: 1024 } });
    const collector = new StatisticsCollector({ hub });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'c' });
    a.socket.bufferedBytes = 10_000;
    hub.publish('c', 'e', 1);
    await tick();
    const stats = collector.getStats();
    expect(stats.drops.slow_consumer).toBe(1);
    expect(stats.queueOverflows).toBe(1);
    expect(a.socket.closedWith).toBe(4008);
  });
});
