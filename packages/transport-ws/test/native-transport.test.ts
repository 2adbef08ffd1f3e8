import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as tcpConnect } from 'node:net';
import { type Connection, ErrorCode, Hub, UnisocketError } from '@unisocket/core';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Admission, type AdmissionCheck, NativeTransport } from '../src/index';

interface Running {
  hub: Hub;
  transport: NativeTransport;
  server: Server;
  url: string;
  port: number;
}
const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    r.transport.close();
    r.hub.close();
    r.server.closeAllConnections();
    await new Promise<void>((resolve) => r.server.close(() => resolve()));
  }
});

async function start(admit?: AdmissionCheck, limits: ConstructorParameters<typeof Hub>[0] = {}): Promise<Running> {
  const hub = new Hub(limits);
  await hub.start();
  const transport = new NativeTransport(hub, admit === undefined ? {} : { admit });
  const server = createServer();
  transport.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const r = { hub, transport, server, port, url: `ws://127.0.0.1:${port}/ws` };
  running.push(r);
  return r;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('NativeTransport admission', () => {
  it('refuses with the error’s HTTP status and a JSON body before the WebSocket exists', async () => {
    const r = await start(() => {
      throw new UnisocketError(ErrorCode.LIMIT_EXCEEDED, 'too many', { httpStatus: 429 });
    });
    const answer = await new Promise<{ status: number; body: string; retryAfter: string | undefined }>((resolve) => {
      const ws = new WebSocket(r.url);
      ws.on('error', () => {});
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers['retry-after'] }));
      });
    });
    expect(answer).toEqual({ status: 429, body: '{"error":"LIMIT_EXCEEDED","message":"too many"}', retryAfter: '5' });
    expect(r.transport.refused[429]).toBe(1);
    expect(r.hub.connectionCount).toBe(0);
  });

  it('settles every admitted upgrade once: with the connection, or undefined when abandoned or invalid', async () => {
    const settled: (Connection | undefined)[] = [];
    const r = await start(async (): Promise<Admission> => {
      await sleep(60);
      return { ip: '10.0.0.1', identity: { userId: 'u1' }, onSettled: (conn) => settled.push(conn) };
    });
    const ws = new WebSocket(r.url);
    ws.on('error', () => {});
    await new Promise((resolve) => ws.once('open', resolve));
    expect(settled).toHaveLength(1);
    expect(settled[0]).toMatchObject({ ip: '10.0.0.1', userId: 'u1' });

    const raw = (key: string | undefined) => {
      const socket = tcpConnect(r.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `${key === undefined ? '' : `Sec-WebSocket-Key: ${key}\r\n`}Sec-WebSocket-Version: 13\r\n\r\n`,
      );
      return socket;
    };
    const gone = raw('dGhlIHNhbXBsZSBub25jZQ==');
    await sleep(10);
    gone.destroy();
    const invalid = raw(undefined);
    await sleep(200);
    invalid.destroy();
    await sleep(20);
    expect(settled).toHaveLength(3);
    expect(settled.slice(1)).toEqual([undefined, undefined]);
    ws.close();
  });
});

describe('NativeTransport frames', () => {
  it('answers binary frames with an error, through the rate limiter (a flood closes 4029)', async () => {
    const r = await start(undefined, { limits: { messagesPerSecond: 5 } });
    const ws = new WebSocket(r.url);
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Record<string, unknown>));
    await new Promise((resolve) => ws.once('open', resolve));
    for (let i = 0; i < 30; i++) ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const code = await new Promise<number>((resolve) => ws.once('close', resolve));
    expect(code).toBe(4029);
    const errors = frames.filter((f) => f.type === 'error');
    expect(errors.slice(0, 10).every((f) => f.code === 'BAD_REQUEST' && /binary/.test(String(f.message)))).toBe(true);
    expect(errors.some((f) => f.code === 'RATE_LIMITED')).toBe(true);
  });
});
