import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ManagerOptions, type Socket as ClientSocket, type SocketOptions, io as ioClient } from 'socket.io-client';
import WebSocket from 'ws';
import {
  createUnifiedWebSocketService,
  type UnifiedWebSocketService,
  type UnifiedWebSocketServiceOptions,
} from '../src/index';

export interface TestServer {
  server: Server;
  service: UnifiedWebSocketService;
  port: number;
  /** The native WebSocket URL. */
  url: string;
  /** `http://127.0.0.1:<port>`, for socket.io-client. */
  baseUrl: string;
  close(): Promise<void>;
}

/** An http.Server on a free loopback port with a service attached. */
export async function startServer(options: UnifiedWebSocketServiceOptions = {}): Promise<TestServer> {
  const service = createUnifiedWebSocketService(options);
  const server = createServer((req, res) => service.httpHandler(req, res));
  await service.initialize(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    service,
    port,
    url: `ws://127.0.0.1:${port}${options.path ?? '/ws'}`,
    baseUrl: `http://127.0.0.1:${port}`,
    async close() {
      await service.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A raw ws client that records every frame (split on \n) and can wait for one. */
export class RawClient {
  readonly ws: WebSocket;
  readonly frames: Record<string, unknown>[] = [];
  closed: { code: number; reason: string } | undefined;
  #waiters: { test: (f: Record<string, unknown>) => boolean; resolve: (f: Record<string, unknown>) => void }[] = [];
  #closeWaiters: ((c: { code: number; reason: string }) => void)[] = [];

  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        const frame = JSON.parse(line) as Record<string, unknown>;
        this.frames.push(frame);
        this.#waiters = this.#waiters.filter((w) => (w.test(frame) ? (w.resolve(frame), false) : true));
      }
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of this.#closeWaiters) w(this.closed);
    });
    this.ws.on('error', () => {});
  }

  static async open(url: string, options?: WebSocket.ClientOptions): Promise<RawClient> {
    const client = new RawClient(url, options);
    await client.next((f) => f.type === 'welcome');
    return client;
  }

  send(command: object | string): void {
    this.ws.send(typeof command === 'string' ? command : JSON.stringify(command));
  }

  next(test: (f: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const found = this.frames.find(test);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-3))}`)),
        timeoutMs,
      );
      this.#waiters.push({ test, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  /** Sends a command with a ref and waits for the ack or error carrying it. */
  async request(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const ref = command.ref ?? Math.random().toString(36).slice(2);
    this.send({ ...command, ref });
    return this.next((f) => (f.type === 'ack' || f.type === 'error' || f.type === 'pong') && f.ref === ref);
  }

  messages(channel?: string): Record<string, unknown>[] {
    return this.frames.filter((f) => f.type === 'message' && (channel === undefined || f.channel === channel));
  }

  waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    if (this.closed !== undefined) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.#closeWaiters.push((c) => (clearTimeout(timer), resolve(c)));
    });
  }

  close(): void {
    this.ws.close();
  }
}

export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A raw socket.io-client that records every event and can wait for one. */
export class SioClient {
  readonly socket: ClientSocket;
  /** Every event received, in order: `{ event, frame }`. */
  readonly events: { event: string; frame: Record<string, unknown> }[] = [];
  disconnected: string | undefined;
  #waiters: { test: (e: { event: string; frame: Record<string, unknown> }) => boolean; resolve: () => void }[] = [];

  constructor(baseUrl: string, options: Partial<ManagerOptions & SocketOptions> = {}) {
    this.socket = ioClient(baseUrl, { forceNew: true, reconnection: false, transports: ['websocket'], ...options });
    this.socket.onAny((event: string, frame: Record<string, unknown>) => {
      const entry = { event, frame };
      this.events.push(entry);
      this.#waiters = this.#waiters.filter((w) => (w.test(entry) ? (w.resolve(), false) : true));
    });
    this.socket.on('disconnect', (reason) => {
      this.disconnected = reason;
    });
  }

  /** Connects and waits for the `welcome` event. */
  static async open(baseUrl: string, options: Partial<ManagerOptions & SocketOptions> = {}): Promise<SioClient> {
    const client = new SioClient(baseUrl, options);
    await client.next('welcome');
    return client;
  }

  /** Waits for the first event named `event` (and matching `test`), past or future. */
  next(
    event: string,
    test: (frame: Record<string, unknown>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Record<string, unknown>> {
    const match = (e: { event: string; frame: Record<string, unknown> }): boolean => e.event === event && test(e.frame);
    const found = this.events.find(match);
    if (found !== undefined) return Promise.resolve(found.frame);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for "${event}"; got ${JSON.stringify(this.events.slice(-3))}`)),
        timeoutMs,
      );
      this.#waiters.push({
        test: match,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.events.find(match)!.frame);
        },
      });
    });
  }

  /** Emits a command with an acknowledgement callback and resolves with the reply (ack or error). */
  request(event: string, payload?: unknown, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const socket = this.socket.timeout(timeoutMs);
    return (payload === undefined ? socket.emitWithAck(event) : socket.emitWithAck(event, payload)) as Promise<
      Record<string, unknown>
    >;
  }

  messages(channel?: string): Record<string, unknown>[] {
    return this.events
      .filter((e) => e.event === 'message' && (channel === undefined || e.frame.channel === channel))
      .map((e) => e.frame);
  }

  /** Resolves with the disconnect reason. */
  waitDisconnect(timeoutMs = 5000): Promise<string> {
    if (this.disconnected !== undefined) return Promise.resolve(this.disconnected);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for disconnect')), timeoutMs);
      this.socket.once('disconnect', (reason) => {
        clearTimeout(timer);
        resolve(reason);
      });
    });
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** Connects a raw socket.io-client and resolves with the `connect_error` it gets (or rejects if it connects). */
export function connectError(
  baseUrl: string,
  options: Partial<ManagerOptions & SocketOptions> = {},
): Promise<Error & { data?: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const socket = ioClient(baseUrl, { forceNew: true, reconnection: false, transports: ['websocket'], ...options });
    socket.on('connect_error', (error: Error & { data?: Record<string, unknown> }) => {
      socket.close();
      resolve(error);
    });
    socket.on('connect', () => {
      socket.close();
      reject(new Error('connected, expected a connect_error'));
    });
  });
}

/** The HTTP status an upgrade gets: 101 when the WebSocket opens, else the refusal status and its JSON body. */
export function upgrade(
  url: string,
  options?: WebSocket.ClientOptions,
): Promise<{ status: number; body: Record<string, unknown> | undefined; ws: WebSocket | undefined }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.on('open', () => resolve({ status: 101, body: undefined, ws }));
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        let body: Record<string, unknown> | undefined;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, ws: undefined });
      });
    });
    ws.on('error', () => {});
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
