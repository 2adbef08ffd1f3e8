/**
 * Live unisocket servers on loopback ports for test suites that exercise clients over real sockets (the client and the
 * React/Vue/Svelte bindings). Source only: vitest transpiles it; it is never built or published.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, Hub, type HubOptions, UnisocketError } from '@unisocket/core';
import {
  type UnifiedWebSocketService,
  type UnifiedWebSocketServiceOptions,
  createUnifiedWebSocketService,
} from '@unisocket/server';
import { NativeTransport } from '@unisocket/transport-ws';
import WebSocket from 'ws';

/** A service on an `http.Server`. */
export interface TestServer {
  server: Server;
  service: UnifiedWebSocketService;
  port: number;
  /** The native WebSocket URL. */
  url: string;
  /** The Socket.IO endpoint, when the service runs the Socket.IO transport. */
  sioUrl: string;
  /** Every subscribe the server accepted (connection id, channel), in order. */
  subscribes: { connectionId: string; channel: string }[];
  /** The number of connections the server accepted. */
  connections(): number;
  /** Shuts the service down (clients get 1001) and closes the HTTP server. Idempotent. */
  close(): Promise<void>;
}

/** Service options letting clients publish on public channels (what most client tests need). */
export const PUBLIC_PUBLISH: UnifiedWebSocketServiceOptions = { permissions: { publish: ['public'] } };

/** Starts a service on a loopback port (a free one unless given). */
export async function startServer(options: UnifiedWebSocketServiceOptions = {}, port = 0): Promise<TestServer> {
  const service = createUnifiedWebSocketService(options);
  const server = createServer((req, res) => service.httpHandler(req, res));
  await service.initialize(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  const subscribes: TestServer['subscribes'] = [];
  let connections = 0;
  service.hub.on('subscribe', (conn, channel) => subscribes.push({ connectionId: conn.id, channel }));
  service.hub.on('connection', () => connections++);
  let closing: Promise<void> | undefined;
  return {
    server,
    service,
    port: actual,
    url: `ws://127.0.0.1:${actual}${options.path ?? '/ws'}`,
    sioUrl: `http://127.0.0.1:${actual}${options.socketio?.path ?? '/socket.io'}`,
    subscribes,
    connections: () => connections,
    close() {
      closing ??= (async () => {
        await service.shutdown();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}

/** A bare Hub behind the native transport. */
export interface HubServer {
  hub: Hub;
  url: string;
  close(): Promise<void>;
}

/** Starts a bare Hub with the native transport: for policies the service builds from options (a custom `authenticate`). */
export async function startHubServer(options: HubOptions = {}): Promise<HubServer> {
  const hub = new Hub(options);
  await hub.start();
  const server = createServer();
  const transport = new NativeTransport(hub, { path: '/ws' });
  transport.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    hub,
    url: `ws://127.0.0.1:${port}/ws`,
    async close() {
      transport.close();
      hub.close();
      transport.terminateAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await hub.broker.close();
    },
  };
}

/**
 * A Hub with sign-in by tokens `ok:<userId>` (presence info `{ name: <USERID> }`), public channels for everyone and
 * private/presence channels and publishing for signed-in users; presence leaves at once.
 */
export function startAuthServer(overrides: Partial<HubOptions> = {}): Promise<HubServer> {
  return startHubServer({
    presence: { leaveGraceMs: 0 },
    policy: {
      authenticate: (_conn, token) => {
        if (!token.startsWith('ok:')) throw new UnisocketError(ErrorCode.UNAUTHORIZED, 'invalid token');
        const userId = token.slice(3);
        return { userId, info: { name: userId.toUpperCase() } };
      },
      authorizeSubscribe: (conn, _channel, { kind }) => kind === 'public' || conn.userId !== null,
      authorizePublish: (conn) => conn.userId !== null,
    },
    ...overrides,
  });
}

/** Waits until `predicate()` holds, polling every 10 ms. */
export async function until(predicate: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Reconnect options that retry within milliseconds, for tests that break connections on purpose. */
export const FAST_RECONNECT = { initialDelayMs: 20, maxDelayMs: 200, factor: 2, stableAfterMs: 1_000 } as const;

/** What {@link liveFixtures} needs of a client: a way to close it. */
export interface Disconnectable {
  disconnect(): void;
}

/** The options {@link LiveFixtures.client} always passes to the client factory. */
export interface LiveClientBase {
  url: string;
  WebSocket: typeof WebSocket;
  reconnect: typeof FAST_RECONNECT;
}

/**
 * Servers and clients a test file creates, closed together by {@link LiveFixtures.cleanup} (call it in `afterEach`).
 * `O` and `C` are the client's options and instance types (`UnisocketClientOptions`, `UnisocketClient`); the testkit
 * takes the factory from the caller rather than importing `@unisocket/client`, whose own tests depend on the testkit.
 */
export interface LiveFixtures<O, C extends Disconnectable> {
  /** A service on a free port (clients may publish on public channels unless `options` say otherwise). */
  server(options?: UnifiedWebSocketServiceOptions): Promise<TestServer>;
  /** A Hub with sign-in by `ok:<userId>` tokens (see {@link startAuthServer}). */
  authServer(overrides?: Partial<HubOptions>): Promise<HubServer>;
  /** A client on `ws`, reconnecting fast. */
  client(url: string, options?: Partial<O>): C;
  /** Disconnects a client created elsewhere (by a binding) at cleanup too. */
  adopt(client: C): C;
  /** Disconnects every client and closes every server. */
  cleanup(): Promise<void>;
}

/** Fixtures for a test file: `const live = liveFixtures(createClient); afterEach(() => live.cleanup());`. */
export function liveFixtures<O extends object, C extends Disconnectable>(
  createClient: (options: O) => C,
): LiveFixtures<O, C> {
  const servers: (TestServer | HubServer)[] = [];
  const clients: C[] = [];
  return {
    async server(options = PUBLIC_PUBLISH) {
      const s = await startServer(options);
      servers.push(s);
      return s;
    },
    async authServer(overrides) {
      const s = await startAuthServer(overrides);
      servers.push(s);
      return s;
    },
    client(url, options = {}) {
      const base: LiveClientBase = { url, WebSocket, reconnect: FAST_RECONNECT };
      const c = createClient({ ...base, ...options } as unknown as O);
      clients.push(c);
      return c;
    },
    adopt(c) {
      clients.push(c);
      return c;
    },
    async cleanup() {
      for (const c of clients.splice(0)) c.disconnect();
      await Promise.all(servers.splice(0).map((s) => s.close()));
    },
  };
}
