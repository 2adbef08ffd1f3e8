import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hub } from '@unisocket/core';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { NativeTransport } from '../src/index';

interface Setup {
  hub: Hub;
  transport: NativeTransport;
  server: Server;
  url: string;
}

const setups: Setup[] = [];
afterEach(async () => {
  for (const { hub, transport, server } of setups.splice(0)) {
    hub.close();
    transport.terminateAll();
    transport.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function setup(hubOptions: ConstructorParameters<typeof Hub>[0] = {}): Promise<Setup> {
  const hub = new Hub(hubOptions);
  await hub.start();
  const server = createServer();
  const transport = new NativeTransport(hub, { forceCloseMs: 200 });
  transport.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const s = { hub, transport, server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws` };
  setups.push(s);
  return s;
}

function open(url: string): Promise<{ ws: WebSocket; lines: Record<string, unknown>[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const lines: Record<string, unknown>[] = [];
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) lines.push(JSON.parse(line) as Record<string, unknown>);
      if (lines.length === 1) resolve({ ws, lines });
    });
    ws.on('error', reject);
  });
}

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('native transport backpressure signals', () => {
  it('reports buffered bytes of a client that stops reading and signals drain when it reads again', async () => {
    const { hub, url } = await setup({
      limits: { maxBufferedBytes: 64 * 1024 * 1024 },
      backpressure: { default: 'coalesce-latest', drainCheckMs: 60_000 }, // the drain signal, not the poll
    });
    const client = await open(url);
    client.ws.send(JSON.stringify({ type: 'subscribe', channel: 'state', ref: 1 }));
    await until(() => client.lines.some((l) => l.type === 'ack'));
    const conn = [...hub.connections()][0]!;
    (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const payload = 'x'.repeat(64 * 1024);
    let i = 0;
    // publish until the kernel buffers are full and the socket itself holds bytes
    while (conn.socket.bufferedBytes === 0 && i < 2000) {
      hub.publish('state', 'e', { i: i++, payload });
      await new Promise((r) => setImmediate(r));
    }
    expect(conn.socket.bufferedBytes).toBeGreaterThan(0);
    for (let k = 0; k < 20; k++) hub.publish('state', 'e', { i: i++, payload });
    await new Promise((r) => setImmediate(r));
    expect(hub.backlogStats().connections).toBe(1);
    expect(hub.stats.drops['coalesce-latest']).toBeGreaterThan(0);
    const last = i - 1;
    (client.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await until(() => client.lines.some((l) => l.type === 'message' && (l.data as { i: number }).i === last));
    expect(hub.backlogStats().connections).toBe(0);
    client.ws.close();
  });

  it('closes sockets the Hub refuses with the refusal close code (4503)', async () => {
    const { hub, url } = await setup();
    hub.refuseConnections('memory critical: not accepting connections');
    const ws = new WebSocket(url);
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.on('error', () => {});
    });
    expect(closed).toEqual({ code: 4503, reason: 'memory critical: not accepting connections' });
  });
});
