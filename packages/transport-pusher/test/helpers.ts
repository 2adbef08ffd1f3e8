import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Broker, Hub, type HubOptions } from '@unisocket/core';
import { NativeTransport } from '@unisocket/transport-ws';
import Pusher from 'pusher-js';
import WebSocket from 'ws';
import { type PusherOptions, PusherTransport, channelAuth, resolvePusherOptions, userAuth } from '../src/index';

export const APP = { id: 'app-1', key: 'key-1', secret: 'secret-1' };
export const APP2 = { id: 'app-2', key: 'key-2', secret: 'secret-2' };

/** A node: a Hub with the native transport on /ws and the Pusher transport on /app/{key}. */
export interface PusherNode {
  hub: Hub;
  server: Server;
  port: number;
  transport: PusherTransport;
  close(): Promise<void>;
}

export async function startNode(
  options: { hub?: HubOptions; pusher?: Partial<PusherOptions>; broker?: Broker; pongTimeoutMs?: number } = {},
): Promise<PusherNode> {
  const pusher = resolvePusherOptions({ apps: [APP, APP2], ...options.pusher }, false);
  const hub = new Hub({
    presence: { leaveGraceMs: 0 },
    policy: {
      authenticate: (_conn, token) => ({ userId: token }),
      authorizeSubscribe: (_conn, _channel, ctx) => ctx.kind !== 'presence',
      authorizePublish: () => true,
    },
    ...(options.broker === undefined ? {} : { broker: options.broker }),
    ...options.hub,
  });
  hub.on('error', () => {});
  await hub.start();
  const server = createServer();
  const native = new NativeTransport(hub, { path: '/ws' });
  const transport = new PusherTransport(hub, {
    pusher,
    ...(options.pongTimeoutMs === undefined ? {} : { pongTimeoutMs: options.pongTimeoutMs }),
  });
  native.attach(server);
  transport.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    hub,
    server,
    port,
    transport,
    async close() {
      native.close();
      transport.close();
      hub.close();
      transport.terminateAll();
      native.terminateAll();
      await options.broker?.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Presence `channel_data` of a user, as an app's auth endpoint would sign it. */
export function channelData(userId: string, info?: unknown): string {
  return JSON.stringify(info === undefined ? { user_id: userId } : { user_id: userId, user_info: info });
}

/** An app's channel authorization (what `/broadcasting/auth` answers), signed in-test. */
export function authorize(
  app: { key: string; secret: string },
  socketId: string,
  channel: string,
  user?: { id: string; info?: unknown },
): { auth: string; channel_data?: string } {
  if (!channel.startsWith('presence-')) return { auth: channelAuth(app.key, app.secret, socketId, channel) };
  const data = channelData(user?.id ?? 'anonymous', user?.info);
  return { auth: channelAuth(app.key, app.secret, socketId, channel, data), channel_data: data };
}

/** pusher-js 8 in Node against a node, signing its channel authorizations in-test. */
export function pusherClient(
  port: number,
  app: { key: string; secret: string } = APP,
  user?: { id: string; info?: unknown },
  badSignature = false,
): Pusher {
  return new Pusher(app.key, {
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: 'mt1',
    channelAuthorization: {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: ({ socketId, channelName }, callback) => {
        const signed = authorize(badSignature ? { ...app, secret: 'wrong' } : app, socketId, channelName, user);
        callback(null, signed);
      },
    },
    userAuthentication: {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: ({ socketId }, callback) => {
        const userData = JSON.stringify({ id: user?.id ?? 'anonymous', user_info: user?.info });
        callback(null, { auth: userAuth(app.key, app.secret, socketId, userData), user_data: userData });
      },
    },
  });
}

/** Resolves once pusher-js is connected. */
export function connected(client: Pusher): Promise<void> {
  return new Promise((resolve, reject) => {
    if (client.connection.state === 'connected') resolve();
    client.connection.bind('connected', () => resolve());
    client.connection.bind('failed', () => reject(new Error('pusher-js failed to connect')));
  });
}

/** Resolves once a channel's subscription succeeded (with its data), rejects on `pusher:subscription_error`. */
export function subscribed(channel: { bind(event: string, cb: (data: unknown) => void): unknown }): Promise<unknown> {
  return new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', resolve);
    channel.bind('pusher:subscription_error', (error) =>
      reject(Object.assign(new Error('subscription_error'), { error })),
    );
  });
}

/** A raw WebSocket recording every JSON message it receives. */
export interface RawSocket {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  send(message: object): void;
  next(event: string, since?: number): Promise<Record<string, unknown>>;
}

export function rawSocket(url: string): Promise<RawSocket> {
  const ws = new WebSocket(url);
  const messages: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) messages.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const raw: RawSocket = {
    ws,
    messages,
    closed,
    send: (message) => ws.send(JSON.stringify(message)),
    next: (event, since = 0) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${event} within 5s`)), 5_000);
        const check = (): void => {
          const found = messages.slice(since).find((m) => m.event === event || m.type === event);
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found);
          } else waiters.push(check);
        };
        check();
      }),
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(raw));
    ws.once('error', reject);
  });
}

/** Polls `check` until it holds (generous bound). */
export async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
