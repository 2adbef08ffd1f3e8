import type { ServerFrame } from '@unisocket/core/protocol';
import { describe, expect, it, vi } from 'vitest';
import { encodeCommand } from '../src/frames';
import { Link } from '../src/link';
import type { TransportFactory } from '../src/index';
import { FakeConnection, fakeTransport, tick } from './fake-transport';

const limits = { maxPayloadBytes: 65_536, maxCommandsPerFrame: 50 };
const welcome = { type: 'welcome', connectionId: 'c1', protocol: 1, heartbeatMs: 25_000, userId: null };

function open(factory: TransportFactory, options: { heartbeatTimeoutMs?: number } = {}) {
  const frames: ServerFrame[] = [];
  const closes: [number, string][] = [];
  const link = new Link(
    { factory, limits, ...options },
    { frame: (f) => frames.push(f), closed: (code, reason) => closes.push([code, reason]) },
  );
  link.open('ws://fake/ws');
  return { link, frames, closes };
}

describe('Link', () => {
  it('holds the frames a transport reports before its factory returned, then passes them on in order', async () => {
    let conn: FakeConnection | undefined;
    const factory: TransportFactory = (url, handlers) => {
      conn = new FakeConnection(url, handlers);
      handlers.onFrame(welcome as ServerFrame);
      handlers.onFrame({ type: 'ping' });
      return Promise.resolve(conn);
    };
    const { link, frames } = open(factory);
    expect(frames).toEqual([]);
    await tick();
    expect(frames.map((f) => f.type)).toEqual(['welcome', 'ping']);
    expect(link.welcome).toMatchObject({ connectionId: 'c1' });
    // the ping was answered on the transport once there was one
    expect(conn!.sent).toEqual([{ type: 'pong' }]);
  });

  it('drops a repeated welcome and answers every ping', async () => {
    const fake = fakeTransport();
    const { frames } = open(fake.factory);
    await tick();
    const conn = fake.connections[0]!;
    conn.push(welcome, { ...welcome, connectionId: 'c2' }, { type: 'ping' }, { type: 'ping' });
    expect(frames.map((f) => f.type)).toEqual(['welcome', 'ping', 'ping']);
    expect(conn.sent).toEqual([{ type: 'pong' }, { type: 'pong' }]);
  });

  it('batches what one turn queues into one send, only once ready; unqueue takes a command back', async () => {
    const fake = fakeTransport();
    const { link } = open(fake.factory);
    await tick();
    const conn = fake.connections[0]!;
    link.enqueue(encodeCommand({ type: 'unsubscribe', channel: 'early', ref: 1 }));
    await tick();
    expect(conn.batches).toEqual([]);
    link.markReady();
    link.enqueue(encodeCommand({ type: 'subscribe', channel: 'a', ref: 2 }));
    link.enqueue(encodeCommand({ type: 'subscribe', channel: 'b', ref: 3 }));
    link.enqueue(encodeCommand({ type: 'subscribe', channel: 'c', ref: 4 }));
    expect(link.unqueue((out) => out.command.type === 'subscribe' && out.command.ref === 3)).toBe(true);
    await tick();
    expect(conn.batches).toEqual([
      [expect.objectContaining({ channel: 'a' }), expect.objectContaining({ channel: 'c' })],
    ]);
  });

  it('gives up on a connection silent past its heartbeat deadline: closes it with 4000 and reports 1006', async () => {
    const fake = fakeTransport();
    const { closes } = open(fake.factory, { heartbeatTimeoutMs: 30 });
    await tick();
    const conn = fake.connections[0]!;
    conn.push(welcome);
    await vi.waitFor(() => expect(closes).toHaveLength(1), { timeout: 2_000 });
    expect(closes[0]![0]).toBe(1006);
    expect(closes[0]![1]).toMatch(/heartbeat timeout/);
    expect(conn.closed?.code).toBe(4000);
  });

  it('reports nothing once closed, and closes a transport that arrives after that', async () => {
    let resolve: ((conn: FakeConnection) => void) | undefined;
    let conn: FakeConnection | undefined;
    const factory: TransportFactory = (url, handlers) =>
      new Promise((r) => {
        conn = new FakeConnection(url, handlers);
        resolve = r;
      });
    const { link, frames, closes } = open(factory);
    link.close(1000, 'bye');
    resolve!(conn!);
    await tick();
    conn!.push(welcome);
    conn!.drop();
    expect(frames).toEqual([]);
    expect(closes).toEqual([]);
    expect(conn!.closed).toEqual({ code: 1000, reason: 'superseded' });
  });
});
