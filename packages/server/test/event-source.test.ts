import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { connectEmitter } from '../src/index';
import { RawClient, type TestServer, startServer, waitFor } from './helpers';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('service.connectEmitter', () => {
  it('streams listed emitter events to a channel: event name → message event, first argument → data', async () => {
    const s = await startServer();
    servers.push(s);
    const client = await RawClient.open(s.url);
    await client.request({ type: 'subscribe', channel: 'error-recovery' });
    const emitter = new EventEmitter();
    const stop = s.service.connectEmitter(emitter, {
      channel: 'error-recovery',
      events: ['retry-started', 'retry-completed'],
    });
    emitter.emit('retry-started', { retryId: 'r1', attemptNumber: 1 }, 'ignored second argument');
    emitter.emit('something-else', { not: 'forwarded' });
    emitter.emit('retry-completed', { retryId: 'r1' });
    await waitFor(() => client.messages('error-recovery').length === 2);
    expect(client.messages('error-recovery').map((m) => [m.event, m.data])).toEqual([
      ['retry-started', { retryId: 'r1', attemptNumber: 1 }],
      ['retry-completed', { retryId: 'r1' }],
    ]);
    stop();
    stop();
    expect(emitter.listenerCount('retry-started')).toBe(0);
    emitter.emit('retry-started', { retryId: 'r2' });
    await new Promise((r) => setTimeout(r, 30));
    expect(client.messages('error-recovery')).toHaveLength(2);
  });

  it('maps event names, sends every argument with a data mapper, and counts undeliverable events as drops', async () => {
    const s = await startServer();
    servers.push(s);
    const client = await RawClient.open(s.url);
    await client.request({ type: 'subscribe', channel: 'scheduler' });
    const emitter = new EventEmitter();
    const drops: string[] = [];
    s.service.connectEmitter(emitter, {
      channel: 'scheduler',
      events: { 'schedule-executed': 'executed' },
      data: (event, args) => ({ event, args }),
      onDrop: (error) => drops.push(error.message),
    });
    emitter.emit('schedule-executed', 'job-1', 42);
    await waitFor(() => client.messages('scheduler').length === 1);
    expect(client.messages('scheduler')[0]).toMatchObject({
      event: 'executed',
      data: { event: 'schedule-executed', args: ['job-1', 42] },
    });

    const circular: Record<string, unknown> = {};
    circular.self = circular;
    emitter.emit('schedule-executed', circular); // not JSON: dropped and counted, the emitter is unaffected
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatch(/JSON/);
    expect(s.service.getStats().drops.event_source).toBe(1);
    expect(s.service.getStats().droppedMessages).toBe(1);
  });

  it('never queues without bound: publishes in flight past maxInFlight are dropped', async () => {
    const pending: (() => void)[] = [];
    let dropped = 0;
    const sink = {
      publish: () => new Promise<void>((resolve) => pending.push(resolve)),
      recordDrop: () => {
        dropped++;
      },
    };
    const emitter = new EventEmitter();
    const stop = connectEmitter(sink, emitter, { channel: 'dlq', events: ['entry-added'], maxInFlight: 3 });
    for (let i = 0; i < 10; i++) emitter.emit('entry-added', i);
    expect(pending).toHaveLength(3);
    expect(dropped).toBe(7);
    for (const resolve of pending.splice(0)) resolve();
    await new Promise((r) => setImmediate(r));
    emitter.emit('entry-added', 11);
    expect(pending).toHaveLength(1);
    stop();
  });

  it('refuses bad arguments with TypeErrors, and disconnects every source on shutdown', async () => {
    const s = await startServer();
    servers.push(s);
    const emitter = new EventEmitter();
    expect(() => s.service.connectEmitter(emitter, { channel: 'bad name', events: ['x'] })).toThrow(/channel/);
    expect(() => s.service.connectEmitter(emitter, { channel: 'ok', events: [] })).toThrow(/at least one/);
    expect(() => s.service.connectEmitter({} as never, { channel: 'ok', events: ['x'] })).toThrow(/EventEmitter/);
    s.service.connectEmitter(emitter, { channel: 'webhook', events: ['webhook-delivered', 'error'] });
    expect(emitter.listenerCount('error')).toBe(1);
    emitter.emit('error', new Error('boom')); // forwarded, not thrown
    await s.service.shutdown();
    expect(emitter.listenerCount('webhook-delivered')).toBe(0);
  });
});
