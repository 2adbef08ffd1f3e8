import { afterEach, describe, expect, it } from 'vitest';
import { Hub, LatencyRecorder } from '../src/index';
import { FakeSocket, tick } from './fake-socket';

describe('LatencyRecorder', () => {
  it('keeps exact bucket counts, sum, count and max, and a bounded ring of recent samples', () => {
    const r = new LatencyRecorder({ samples: 3, bucketsMs: [1, 10, 100] });
    for (const ms of [0, 1, 2, 10, 11, 500, -5]) r.record(ms);
    expect([...r.bucketCounts]).toEqual([3, 2, 1, 1]); // <=1: 0,1,-5→0 ; <=10: 2,10 ; <=100: 11 ; >100: 500
    expect(r.count).toBe(7);
    expect(r.sumMs).toBe(0 + 1 + 2 + 10 + 11 + 500 + 0);
    expect(r.maxMs).toBe(500);
    expect(r.recent.toArray()).toEqual([11, 500, 0]);
  });

  it('refuses bad options with a TypeError', () => {
    expect(() => new LatencyRecorder({ samples: 0 })).toThrow(TypeError);
    expect(() => new LatencyRecorder({ bucketsMs: [5, 5] })).toThrow(/strictly increasing/);
  });
});

const hubs: Hub[] = [];
afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
});

describe('Hub publish→flush latency', () => {
  it('records one sample per flushed batch (not per message or subscriber), only when written to subscribers', async () => {
    const hub = new Hub();
    hubs.push(hub);
    await hub.start();
    hub.publish('nobody', 'e', 1); // no local subscribers: nothing flushed, nothing recorded
    const sockets = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    for (const socket of sockets) {
      const conn = hub.addConnection({ socket, transport: 'native', ip: '127.0.0.1' });
      hub.handleText(conn, JSON.stringify({ type: 'subscribe', channel: 'c' }));
    }
    for (let i = 0; i < 10; i++) hub.publish('c', 'e', i);
    await tick();
    expect(hub.latency.count).toBe(1);
    hub.publish('c', 'e', 'again');
    await tick();
    expect(hub.latency.count).toBe(2);
    expect(hub.latency.maxMs).toBeLessThan(1_000);
    expect(hub.stats.lastPublishAt).toBeGreaterThan(0);
    expect(hub.userCount).toBe(0);
    expect(hub.subscriptionCount).toBe(3);
  });

  it('counts what closed connections delivered per transport', async () => {
    const hub = new Hub();
    hubs.push(hub);
    await hub.start();
    const socket = new FakeSocket();
    const conn = hub.addConnection({ socket, transport: 'socketio', ip: '127.0.0.1' });
    hub.handleText(conn, JSON.stringify({ type: 'subscribe', channel: 'c' }));
    hub.publish('c', 'e', 1);
    await tick();
    hub.removeConnection(conn);
    expect(hub.stats.closedByTransport.socketio).toMatchObject({ delivered: 1, commandsIn: 1 });
    expect(hub.stats.closedByTransport.socketio!.bytesOut).toBeGreaterThan(0);
  });
});
