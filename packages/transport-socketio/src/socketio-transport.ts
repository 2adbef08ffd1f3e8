import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import {
  type Admission,
  type AdmissionCheck,
  type AdmissionContext,
  CloseCode,
  type ClientCommandType,
  type Connection,
  ErrorCode,
  type Hub,
  type MaybePromise,
  type ServerFrame,
  UnisocketError,
  isPromiseLike,
  isUnisocketError,
  validateCommand,
} from '@unisocket/core';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import {
  type RedisAdapterHandle,
  type RedisAdapterOptions,
  createRedisAdapter,
  validateRedisAdapterOptions,
} from './redis-adapter';
import { type EngineSocket, type InboundContext, SocketIoSocket } from './socketio-socket';

/** Options of {@link SocketIoTransport}. */
export interface SocketIoTransportOptions {
  /**
   * The path Socket.IO serves (engine.io handshakes, long-polling and WebSocket upgrades, and the client bundle).
   * @default '/socket.io'
   */
  path?: string;
  /**
   * Decides each connection (limits, authentication) in a Socket.IO middleware, before the Hub has a connection;
   * called with `socket.request` and `{ transport: 'socketio', token: handshake.auth.token, ip: handshake.address }`.
   * Everyone is admitted without it.
   */
  admit?: AdmissionCheck;
  /**
   * How long a closing connection may take before it is dropped, in ms.
   * @default 5_000
   */
  forceCloseMs?: number;
  /**
   * Options for the Socket.IO server (`cors`, `transports`, `serveClient`, `connectTimeout`, `allowRequest`…).
   * unisocket sets `path`, `perMessageDeflate: false` (never compress per subscriber; `httpCompression` of long-polling
   * responses is off too unless given here), `destroyUpgrade: false` (other
   * upgrade handlers, like the native transport's, keep their upgrades), `pingInterval` (the Hub's `heartbeatMs`)
   * and `pingTimeout` (`min(heartbeatMs, 20000)`) unless given here, and `maxHttpBufferSize` (default: twice the
   * Hub's `maxPayloadBytes`). `perMessageDeflate` and `connectionStateRecovery` cannot be turned on: unisocket
   * recovers by itself, per channel, on every transport.
   */
  serverOptions?: Partial<ServerOptions>;
  /** Install `@socket.io/redis-adapter` on the `io` server (for the application's own Socket.IO code). */
  redisAdapter?: RedisAdapterOptions;
  /** Receives failures the transport survives (the Redis adapter's clients). */
  onError?: (error: Error) => void;
}

/** The events a client may emit, and the command type each one is. */
const COMMAND_EVENTS: ReadonlyMap<string, ClientCommandType> = new Map<string, ClientCommandType>([
  ['subscribe', 'subscribe'],
  ['unsubscribe', 'unsubscribe'],
  ['publish', 'publish'],
  ['auth', 'auth'],
  ['presence', 'presence'],
  ['ping', 'ping'],
]);

/** The HTTP server events Socket.IO (engine.io) listens to once attached. */
const SERVER_EVENTS = ['request', 'upgrade', 'close', 'listening'] as const;
type Listener = (...args: unknown[]) => void;

const ENTRY = Symbol('unisocket.socketio.entry');
const ADMISSION = Symbol('unisocket.socketio.admission');

/** An admitted connection request waiting for Socket.IO's `connection` (or for its abandonment). */
interface PendingAdmission {
  admission: Admission;
  /** Settles the admission as abandoned (the engine.io connection closed first). */
  abandon: (() => void) | undefined;
}

interface TaggedSocket {
  [ENTRY]?: SocketIoSocket | undefined;
  [ADMISSION]?: PendingAdmission | undefined;
}

/**
 * The Socket.IO transport: protocol v1 commands as Socket.IO events with acknowledgements, on the same HTTP server as
 * the native transport and the same Hub.
 *
 * A client emits `subscribe`, `unsubscribe`, `publish`, `auth` or `presence` with the command object (without
 * `type`/`ref`) and an acknowledgement callback, which receives the `ack` or `error` object. The server emits
 * `welcome`, `message`, `presence`, `resync` and `error` events carrying the protocol's frame objects, and `close`
 * before it ends a connection. Messages are encoded once per batch and written to every subscriber (see
 * `SocketIoBatch`).
 */
export class SocketIoTransport {
  /** The transport's name (`Connection.transport`, per-transport stats). */
  readonly name = 'socketio';
  readonly path: string;
  /** The Socket.IO server, for the application's own Socket.IO code (`io.on`, `io.to(room).emit`, …). */
  readonly io: Server;
  /** Connections refused by admission, by HTTP status of the refusal. */
  readonly refused: Record<number, number> = {};
  readonly #hub: Hub;
  readonly #admit: AdmissionCheck | undefined;
  readonly #forceCloseMs: number;
  readonly #redisOptions: RedisAdapterOptions | undefined;
  readonly #onError: (error: Error) => void;
  readonly #context: InboundContext;
  #redis: RedisAdapterHandle | undefined;
  #server: HttpServer | HttpsServer | undefined;
  /** The listeners Socket.IO added to and removed from the HTTP server at attach, to undo it. */
  #listenerChanges: { event: string; added: Listener[]; removed: Listener[] }[] = [];
  #closed = false;
  #disposed: Promise<void> | undefined;

  constructor(hub: Hub, options: SocketIoTransportOptions = {}) {
    const server = options.serverOptions ?? {};
    if (typeof server !== 'object' || server === null) throw new TypeError('serverOptions must be an object');
    if (options.path !== undefined && server.path !== undefined && options.path !== server.path) {
      throw new TypeError(`path (${options.path}) and serverOptions.path (${server.path}) differ: set only path`);
    }
    const path = options.path ?? server.path ?? '/socket.io';
    if (typeof path !== 'string' || !path.startsWith('/') || path.includes('?') || path.length < 2) {
      throw new TypeError(`path must start with "/" and hold no query, got ${JSON.stringify(path)}`);
    }
    if (server.perMessageDeflate !== undefined && server.perMessageDeflate !== false) {
      throw new TypeError(
        'serverOptions.perMessageDeflate cannot be on: unisocket writes one pre-encoded frame to every subscriber and never compresses per subscriber',
      );
    }
    if (server.connectionStateRecovery !== undefined) {
      throw new TypeError(
        'serverOptions.connectionStateRecovery is not supported: unisocket recovers every channel itself (subscribe with `since`), on both transports',
      );
    }
    const forceCloseMs = options.forceCloseMs ?? 5_000;
    if (!Number.isInteger(forceCloseMs) || forceCloseMs < 0) {
      throw new TypeError(`forceCloseMs must be an integer >= 0, got ${String(options.forceCloseMs)}`);
    }
    const maxPayloadBytes = hub.limits.maxPayloadBytes;
    const maxHttpBufferSize = server.maxHttpBufferSize ?? 2 * maxPayloadBytes;
    if (!Number.isInteger(maxHttpBufferSize) || maxHttpBufferSize < maxPayloadBytes) {
      throw new TypeError(
        `serverOptions.maxHttpBufferSize must be an integer >= limits.maxPayloadBytes (${maxPayloadBytes}), got ${String(server.maxHttpBufferSize)}`,
      );
    }
    if (options.redisAdapter !== undefined) validateRedisAdapterOptions(options.redisAdapter);
    this.path = path;
    this.#hub = hub;
    this.#admit = options.admit;
    this.#forceCloseMs = forceCloseMs;
    this.#redisOptions = options.redisAdapter;
    this.#onError = options.onError ?? (() => {});
    this.#context = {
      hub,
      decodeLimits: { maxPayloadBytes, maxDepth: hub.limits.maxDepth, maxCommandsPerFrame: 1 },
      sockets: new Set(),
    };
    const userAllowRequest = server.allowRequest;
    this.io = new Server({
      ...server,
      path,
      perMessageDeflate: false,
      // gzip of long-polling responses is compression per subscriber too: off unless asked for
      httpCompression: server.httpCompression ?? false,
      maxHttpBufferSize,
      // engine.io would destroy upgrades for other paths after a second: the native transport's among them
      destroyUpgrade: false,
      pingInterval: server.pingInterval ?? hub.heartbeatMs,
      pingTimeout: server.pingTimeout ?? Math.min(hub.heartbeatMs, 20_000),
      allowRequest: (request, callback) => {
        if (this.#closed || this.#hub.closed) {
          callback('the server is shutting down', false);
          return;
        }
        if (userAllowRequest !== undefined) userAllowRequest(request, callback);
        else callback(null, true);
      },
    });
    this.io.use(this.#middleware);
    this.io.on('connection', this.#onConnection);
  }

  /** `true` for a request URL (or path) this transport serves: its path and everything under it. */
  handles(url: string | undefined): boolean {
    if (url === undefined) return false;
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const base = this.path.endsWith('/') ? this.path.slice(0, -1) : this.path;
    return pathname === base || pathname.startsWith(`${base}/`);
  }

  /** The number of open Socket.IO connections of this transport. */
  get size(): number {
    return this.#context.sockets.size;
  }

  /** Whether the Redis adapter is installed, and which variant. */
  get redisAdapter(): { sharded: boolean; redisVersion: string | undefined } | undefined {
    return this.#redis === undefined
      ? undefined
      : { sharded: this.#redis.sharded, redisVersion: this.#redis.redisVersion };
  }

  /**
   * Installs the Redis adapter (when configured) and attaches Socket.IO to `server`: it serves its `path` and leaves
   * every other request and upgrade to the server's other handlers. Create the server with its request handler
   * before calling this (Socket.IO wraps the `request` listeners present at attach time).
   */
  async attach(server: HttpServer | HttpsServer): Promise<void> {
    if (this.#server !== undefined) throw new TypeError('this transport is already attached to a server');
    if (this.#closed) throw new TypeError('this transport is closed');
    this.#server = server;
    try {
      if (this.#redisOptions !== undefined) {
        this.#redis = await createRedisAdapter(this.#redisOptions, this.#onError);
        this.io.adapter(this.#redis.adapter as Parameters<Server['adapter']>[0] & object);
      }
      if (this.#closed) throw new TypeError('this transport was closed while attaching');
      const before = SERVER_EVENTS.map((event) => server.listeners(event) as Listener[]);
      this.io.attach(server);
      this.#listenerChanges = SERVER_EVENTS.map((event, i) => {
        const now = server.listeners(event) as Listener[];
        return {
          event,
          added: now.filter((l) => !before[i]!.includes(l)),
          removed: before[i]!.filter((l) => !now.includes(l)),
        };
      });
    } catch (error) {
      this.#server = undefined;
      await this.#redis?.close();
      this.#redis = undefined;
      throw error;
    }
  }

  /**
   * Stops accepting connections: handshakes get 403, Socket.IO connects a `connect_error`, and upgrade requests are no
   * longer taken (engine.io's `upgrade` listener leaves the server). Open ones are closed by the Hub.
   */
  close(): void {
    this.#closed = true;
    const server = this.#server;
    if (server === undefined) return;
    for (const change of this.#listenerChanges) {
      if (change.event !== 'upgrade') continue;
      for (const listener of change.added) server.off('upgrade', listener);
      change.added = [];
    }
  }

  /** Drops every connection at once, without waiting for queued data (after a graceful close timed out). */
  terminateAll(): void {
    for (const entry of this.#context.sockets) entry.terminate();
  }

  /**
   * Closes what is left: every engine.io connection, the adapter, and the Redis clients the transport created, and
   * gives the HTTP server its listeners back as they were before `attach` (requests for the Socket.IO path then reach
   * your handlers). The HTTP server stays open: it is yours.
   */
  dispose(): Promise<void> {
    this.#closed = true;
    this.#disposed ??= (async () => {
      this.terminateAll();
      (this.io.engine as { close?: () => void } | undefined)?.close?.();
      const adapter = this.io.of('/').adapter as { close?: () => unknown };
      try {
        await adapter.close?.();
      } catch (error) {
        this.#onError(error instanceof Error ? error : new Error(String(error)));
      }
      await this.#redis?.close();
      this.#restoreServer();
    })();
    return this.#disposed;
  }

  /** Leaves the HTTP server's listeners as Socket.IO found them (its `request` wrapper gives way to your handlers). */
  #restoreServer(): void {
    const server = this.#server;
    if (server === undefined) return;
    for (const { event, added, removed } of this.#listenerChanges) {
      for (const listener of added) server.off(event, listener);
      const present = server.listeners(event);
      for (const listener of removed) if (!present.includes(listener)) server.on(event, listener);
    }
    this.#listenerChanges = [];
  }

  // ------------------------------------------------------------------------------------------------
  // admission
  // ------------------------------------------------------------------------------------------------

  readonly #middleware = (socket: Socket, next: (error?: Error) => void): void => {
    if (this.#closed || this.#hub.closed) {
      this.#refuse(socket, next, shuttingDown());
      return;
    }
    const admit = this.#admit;
    if (admit === undefined) {
      next();
      return;
    }
    const auth = socket.handshake.auth as Record<string, unknown> | undefined;
    const token = typeof auth?.token === 'string' && auth.token.length > 0 ? auth.token : undefined;
    const context: AdmissionContext = { transport: 'socketio', ip: socket.handshake.address };
    if (token !== undefined) context.token = token;
    let decision: MaybePromise<Admission | void>;
    try {
      decision = admit(socket.request as IncomingMessage, context);
    } catch (error) {
      this.#refuse(socket, next, error);
      return;
    }
    if (isPromiseLike(decision)) {
      decision.then(
        (admission) => this.#admitted(socket, next, admission),
        (error: unknown) => this.#refuse(socket, next, error),
      );
    } else {
      this.#admitted(socket, next, decision);
    }
  };

  #admitted(socket: Socket, next: (error?: Error) => void, admission: Admission | void): void {
    if (this.#closed || this.#hub.closed) {
      admission?.onSettled?.(undefined);
      this.#refuse(socket, next, shuttingDown());
      return;
    }
    if (admission === undefined) {
      next();
      return;
    }
    const engine = socket.conn;
    if (engine.readyState !== 'open') {
      // the client went away while admission ran: Socket.IO drops the connect, the reservation goes now
      admission.onSettled?.(undefined);
      next();
      return;
    }
    const pending: PendingAdmission = { admission, abandon: undefined };
    if (admission.onSettled !== undefined) {
      // between here and `connection` the client may still go away: then the admission is settled as abandoned
      const onSettled = admission.onSettled;
      pending.abandon = () => {
        if ((socket as unknown as TaggedSocket)[ADMISSION] !== pending) return;
        delete (socket as unknown as TaggedSocket)[ADMISSION];
        onSettled(undefined);
      };
      engine.once('close', pending.abandon);
    }
    (socket as unknown as TaggedSocket)[ADMISSION] = pending;
    next();
  }

  #refuse(socket: Socket, next: (error?: Error) => void, error: unknown): void {
    const err = isUnisocketError(error)
      ? error
      : new UnisocketError(ErrorCode.INTERNAL, 'connection refused', { cause: error, httpStatus: 500 });
    if (!isUnisocketError(error)) this.#onError(error instanceof Error ? error : new Error(String(error)));
    const status = err.httpStatus ?? 403;
    this.refused[status] = (this.refused[status] ?? 0) + 1;
    next(connectError(err, status));
    // Socket.IO sends the CONNECT_ERROR on the next tick; then the engine.io connection goes too, so a refused client
    // holds nothing on the server (unless it also uses another namespace)
    setImmediate(closeIfUnused, socket);
  }

  // ------------------------------------------------------------------------------------------------
  // connections
  // ------------------------------------------------------------------------------------------------

  readonly #onConnection = (socket: Socket): void => {
    const tagged = socket as unknown as TaggedSocket;
    const pending = tagged[ADMISSION];
    if (pending !== undefined) {
      delete tagged[ADMISSION];
      if (pending.abandon !== undefined) socket.conn.off('close', pending.abandon);
    }
    const admission = pending?.admission;
    const entry = new SocketIoSocket(socket, this.#context, this.#forceCloseMs);
    let conn: Connection;
    try {
      conn = this.#hub.addConnection({
        socket: entry,
        transport: 'socketio',
        ip: admission?.ip ?? socket.handshake.address ?? '',
        ...(admission?.identity === undefined ? {} : { identity: admission.identity }),
      });
    } catch {
      admission?.onSettled?.(undefined);
      entry.close(CloseCode.GOING_AWAY, 'server shutting down');
      return;
    }
    admission?.onSettled?.(conn);
    entry.conn = conn;
    tagged[ENTRY] = entry;
    (socket.conn as unknown as TaggedSocket)[ENTRY] = entry;
    this.#context.sockets.add(entry);
    // shared handlers (they read `this`): no closure per connection
    socket.onAny(onEvent);
    socket.on('disconnect', onDisconnect);
    socket.conn.on('packet', onPacket);
    socket.conn.on('flush', onFlush);
  };
}

// --------------------------------------------------------------------------------------------------
// shared per-socket handlers
// --------------------------------------------------------------------------------------------------

/** A client event: a protocol command (with its acknowledgement callback), or the application's own event. */
function onEvent(this: Socket, event: string, ...args: unknown[]): void {
  const entry = (this as unknown as TaggedSocket)[ENTRY];
  const conn = entry?.conn;
  if (entry === undefined || conn === undefined || conn.closed) return;
  const { hub, decodeLimits } = entry.context;
  const last = args.length === 0 ? undefined : args[args.length - 1];
  const reply = typeof last === 'function' ? (last as (frame: ServerFrame) => void) : undefined;
  const type = COMMAND_EVENTS.get(event);
  if (type === undefined) {
    // the application's own events (registered through service.io) are not ours to judge
    if (this.listenerCount(event) > 0) return;
    hub.handleInvalid(
      conn,
      badRequest(`unknown event ${quote(event)}: emit subscribe, unsubscribe, publish, auth or presence`),
      reply,
    );
    return;
  }
  if (reply === undefined) {
    hub.handleInvalid(
      conn,
      badRequest(
        `"${event}" needs an acknowledgement callback, where its ack or error goes: socket.emit("${event}", {…}, (reply) => …)`,
      ),
    );
    return;
  }
  if (entry.inboundBinary) {
    hub.handleInvalid(conn, badRequest('binary attachments are not supported: send JSON objects'), reply);
    return;
  }
  const text = entry.inboundText;
  entry.inboundText = '';
  const max = decodeLimits.maxPayloadBytes;
  if (text.length > max || (text.length * 3 > max && Buffer.byteLength(text) > max)) {
    hub.handleInvalid(
      conn,
      new UnisocketError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        `the "${event}" packet is larger than maxPayloadBytes (${max} bytes)`,
      ),
      reply,
    );
    return;
  }
  const payloads = args.length - 1;
  const payload = payloads === 0 ? {} : args[0];
  if (payloads > 1 || typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    hub.handleInvalid(
      conn,
      badRequest(
        `"${event}" takes one JSON object and an acknowledgement callback, e.g. socket.emit("subscribe", { channel: "news" }, (reply) => …)`,
      ),
      reply,
    );
    return;
  }
  // the command's fields, its type from the event name; a `ref` is not needed (the callback correlates)
  const result = validateCommand({ ...(payload as Record<string, unknown>), type, ref: undefined }, decodeLimits);
  if (result instanceof UnisocketError) hub.handleInvalid(conn, result, reply);
  else hub.handleCommand(conn, result, reply);
}

function onDisconnect(this: Socket, reason: string): void {
  const tagged = this as unknown as TaggedSocket;
  const entry = tagged[ENTRY];
  if (entry === undefined) return;
  tagged[ENTRY] = undefined;
  const engine = this.conn;
  (engine as unknown as TaggedSocket)[ENTRY] = undefined;
  engine.off('packet', onPacket);
  engine.off('flush', onFlush);
  const context = entry.context;
  context.sockets.delete(entry);
  const code = entry.closeCode ?? disconnectCode(reason);
  context.hub.removeConnection(entry.conn!, code, entry.closeCode === undefined ? reason : entry.closeReason);
}

/** Notes what the next decoded event was on the wire (its size, binary attachments) before Socket.IO parses it. */
function onPacket(this: EngineSocket, packet: { type: string; data?: unknown }): void {
  if (packet.type !== 'message') return;
  const entry = (this as unknown as TaggedSocket)[ENTRY];
  if (entry === undefined) return;
  const data = packet.data;
  if (typeof data !== 'string') return; // a binary attachment of the previous packet
  entry.inboundText = data;
  // Socket.IO packet types 5 (BINARY_EVENT) and 6 (BINARY_ACK) announce attachments
  const kind = data.charCodeAt(0);
  entry.inboundBinary = kind === 53 || kind === 54;
}

/** engine.io handed its write buffer to the transport: from now on those bytes count in the socket's buffer. */
function onFlush(this: EngineSocket): void {
  const entry = (this as unknown as TaggedSocket)[ENTRY];
  if (entry !== undefined) entry.queued = 0;
}

function closeIfUnused(socket: Socket): void {
  const client = socket.client as unknown as {
    sockets?: Map<unknown, unknown>;
    conn: { readyState: string; close(): void };
  };
  if ((client.sockets?.size ?? 0) === 0 && client.conn.readyState === 'open') client.conn.close();
}

/** The error a refused client receives as `connect_error`: `err.message`, and `err.data` like an `error` frame. */
function connectError(error: UnisocketError, status: number): Error & { data: Record<string, unknown> } {
  const refusal = new Error(error.message) as Error & { data: Record<string, unknown> };
  refusal.data = { type: 'error', code: error.code, message: error.message, status };
  if (error.closeCode !== undefined) refusal.data.closeCode = error.closeCode;
  return refusal;
}

/** The WebSocket close code reported to the Hub for a disconnect the server did not choose. */
function disconnectCode(reason: string): number {
  switch (reason) {
    case 'client namespace disconnect':
      return CloseCode.NORMAL;
    case 'server shutting down':
      return CloseCode.GOING_AWAY;
    default:
      // transport close / error, ping timeout, parse error: the connection ended without a close code
      return 1006;
  }
}

function shuttingDown(): UnisocketError {
  return new UnisocketError(ErrorCode.UNAVAILABLE, 'the server is shutting down', {
    httpStatus: 503,
    closeCode: CloseCode.GOING_AWAY,
  });
}

function badRequest(message: string): UnisocketError {
  return new UnisocketError(ErrorCode.BAD_REQUEST, message);
}

function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}
