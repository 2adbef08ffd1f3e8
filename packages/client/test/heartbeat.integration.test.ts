import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { cleanupClients, testClient, waitFor } from './helpers';

/** A scripted protocol server on real sockets, for what a well-behaved server never does (going silent). */
async function scriptedServer(onConnection: (ws: WebSocket, index: number) => void) {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  const received: string[][] = [];
  const sockets: WebSocket[] = [];
  wss.on('connection', (ws) => {
    const index = sockets.length;
    sockets.push(ws);
    received.push([]);
    ws.on('message', (data) => received[index]!.push(...data.toString().split('\n')));
    onConnection(ws, index);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    received,
    sockets,
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  cleanupClients();
  await Promise.all(closers.splice(0).map((c) => c()));
});

const welcome = (id: string, heartbeatMs: number) =>
  JSON.stringify({ type: 'welcome', connectionId: id, protocol: 1, heartbeatMs, userId: null });

describe('heartbeat and framing', () => {
  it('answers server pings with pong and reads several frames from one message', async () => {
    const s = await scriptedServer((ws, i) => {
      ws.send(welcome(`c${i}`, 25_000));
      ws.on('message', (data) => {
        const cmd = JSON.parse(data.toString().split('\n')[0]!) as { type: string; ref?: number; channel?: string };
        if (cmd.type === 'subscribe') {
          // ack, three messages and a ping, batched in one WebSocket message
          ws.send(
            [
              JSON.stringify({ type: 'ack', ref: cmd.ref, channel: cmd.channel, epoch: 'E', offset: 0 }),
              ...[1, 2, 3].map((o) =>
                JSON.stringify({
                  type: 'message',
                  channel: cmd.channel,
                  event: 'e',
                  data: o,
                  id: `m${o}`,
                  offset: o,
                  ts: 1,
                }),
              ),
              JSON.stringify({ type: 'ping' }),
            ].join('\n'),
          );
        }
      });
    });
    closers.push(s.close);
    const client = testClient(s.url);
    await client.connect();
    const got: unknown[] = [];
    client.subscribe('x', { onMessage: (m) => got.push(m.data) });
    await waitFor(() => s.received[0]!.includes('{"type":"pong"}'), 3_000, 'a pong');
    expect(got).toEqual([1, 2, 3]);
  });

  it('replaces a connection that went silent for ~2x heartbeatMs', async () => {
    // the first connection welcomes with a 100 ms heartbeat, then never sends anything again
    const s = await scriptedServer((ws, i) => ws.send(welcome(`c${i}`, 100)));
    closers.push(s.close);
    const client = testClient(s.url);
    const closes: number[] = [];
    client.on('disconnected', (d) => closes.push(d.code));
    const started = Date.now();
    await client.connect();
    await waitFor(() => s.sockets.length >= 2, 5_000, 'a second connection');
    const elapsed = Date.now() - started;
    // 2 × 100 ms + 1 s of tolerance, give or take the reconnect delay
    expect(elapsed).toBeGreaterThanOrEqual(1_000);
    expect(elapsed).toBeLessThan(4_000);
    expect(closes[0]).toBe(1006);
    await waitFor(() => client.getSnapshot().connectionId === 'c1', 3_000, 'the new connection');
  });

  it('a custom heartbeatTimeoutMs replaces the default', async () => {
    // heartbeatMs 2 s would mean a 5 s default timeout; 300 ms is configured
    const s = await scriptedServer((ws, i) => ws.send(welcome(`c${i}`, 2_000)));
    closers.push(s.close);
    const client = testClient(s.url, { heartbeatTimeoutMs: 300 });
    const started = Date.now();
    await client.connect();
    await waitFor(() => s.sockets.length >= 2, 5_000, 'a second connection');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('stays connected while the server keeps pinging', async () => {
    const s = await scriptedServer((ws, i) => {
      ws.send(welcome(`c${i}`, 50));
      const timer = setInterval(() => ws.send('{"type":"ping"}'), 50);
      ws.on('close', () => clearInterval(timer));
    });
    closers.push(s.close);
    // 50 ms pings against a 1 s timeout: only a dead connection misses that many
    const client = testClient(s.url, { heartbeatTimeoutMs: 1_000 });
    await client.connect();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(s.sockets).toHaveLength(1);
    expect(client.getSnapshot().status).toBe('connected');
    expect(s.received[0]!.filter((l) => l === '{"type":"pong"}').length).toBeGreaterThan(5);
  });

  it('abandons an attempt that never gets a welcome (connectTimeoutMs) and retries', async () => {
    const s = await scriptedServer((ws, i) => {
      if (i > 0) ws.send(welcome(`c${i}`, 25_000));
    });
    closers.push(s.close);
    const client = testClient(s.url, { connectTimeoutMs: 200 });
    await client.connect();
    expect(s.sockets.length).toBe(2);
    expect(client.getSnapshot().connectionId).toBe('c1');
  });
});
