import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hub, type HubOptions } from '@unisocket/core';
import { NativeTransport } from '@unisocket/transport-ws';
import WebSocket from 'ws';
import {
  type HubRestHostOptions,
  type PusherRestHandlerOptions,
  createPusherRestHandler,
  hubRestHost,
  resolvePusherOptions,
} from '../src/index';

export const APP = { id: 'app-1', key: 'key-1', secret: 'secret-1' };
export const OTHER_APP = { id: 'app-2', key: 'key-2', secret: 'secret-2', maxEventBytes: 64 };

/** A node: a Hub, the native transport on /ws and the Pusher REST API on /apps. */
export interface RestNode {
  hub: Hub;
  server: Server;
  port: number;
  wsUrl: string;
  close(): Promise<void>;
}

export async function startRestNode(
  hubOptions: HubOptions = {},
  handlerOptions: PusherRestHandlerOptions = {},
  hostOptions: HubRestHostOptions = {},
): Promise<RestNode> {
  const { apps } = resolvePusherOptions({ apps: [APP, OTHER_APP] }, false);
  const hub = new Hub({
    policy: {
      authenticate: (_conn, token) => ({ userId: token, info: { name: token.toUpperCase() } }),
      authorizeSubscribe: () => true,
    },
    ...hubOptions,
  });
  hub.on('error', () => {});
  await hub.start();
  const rest = createPusherRestHandler(hubRestHost(hub, apps, hostOptions), handlerOptions);
  const server = createServer((req, res) => {
    if (!rest(req, res)) res.writeHead(404).end();
  });
  const transport = new NativeTransport(hub, { path: '/ws' });
  transport.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    hub,
    server,
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    async close() {
      transport.close();
      hub.close();
      await hub.broker.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A native unisocket WebSocket client recording every frame. */
export class NativeClient {
  readonly ws: WebSocket;
  readonly frames: Record<string, unknown>[] = [];
  closed: { code: number; reason: string } | undefined;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) this.frames.push(JSON.parse(line) as Record<string, unknown>);
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    this.ws.on('error', () => {});
  }

  static async open(url: string, token?: string): Promise<NativeClient> {
    const client = new NativeClient(url);
    await client.next((f) => f.type === 'welcome');
    if (token !== undefined) await client.request({ type: 'auth', token });
    return client;
  }

  async next(test: (f: Record<string, unknown>) => boolean, ms = 5000): Promise<Record<string, unknown>> {
    await until(() => this.frames.some(test), ms);
    return this.frames.find(test)!;
  }

  async request(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const ref = Math.random().toString(36).slice(2);
    this.ws.send(JSON.stringify({ ...command, ref }));
    const answer = await this.next((f) => (f.type === 'ack' || f.type === 'error') && f.ref === ref);
    if (answer.type === 'error') throw new Error(`refused: ${JSON.stringify(answer)}`);
    return answer;
  }

  subscribe(channel: string): Promise<Record<string, unknown>> {
    return this.request({ type: 'subscribe', channel });
  }

  messages(channel?: string): Record<string, unknown>[] {
    return this.frames.filter((f) => f.type === 'message' && (channel === undefined || f.channel === channel));
  }

  close(): void {
    this.ws.close();
  }
}

export async function until(predicate: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A signed-or-not raw request (for the refusals the SDK never makes). */
export async function raw(
  port: number,
  method: string,
  pathAndQuery: string,
  body?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, {
    method,
    ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}
