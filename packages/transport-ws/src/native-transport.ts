import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import {
  type Admission,
  type AdmissionCheck,
  type Connection,
  type Hub,
  type UpgradeAdmission,
  admitUpgrade,
  ignoreSocketError,
  isUnisocketError,
  refuseUpgradeWith,
  shuttingDown,
} from '@unisocket/core';
import { WebSocketServer, type WebSocket } from 'ws';
import { NativeSocket, type SocketOwner, truncateReason } from './native-socket';

export type { Admission, AdmissionCheck, AdmissionContext } from '@unisocket/core';

const ADMISSION_CONTEXT = { transport: 'native' } as const;

/** Options of {@link NativeTransport}. */
export interface NativeTransportOptions {
  /**
   * The path WebSocket upgrades are accepted on. Upgrades for other paths are left to other handlers.
   * @default '/ws'
   */
  path?: string;
  /**
   * Decides each upgrade (limits, origin, authentication) before the WebSocket exists; called with
   * `{ transport: 'native' }` as its context. Everyone is admitted without it.
   */
  admit?: AdmissionCheck;
  /**
   * How long a closing connection may take to complete the close handshake before it is dropped, in ms.
   * @default 5_000
   */
  forceCloseMs?: number;
}

/**
 * The native WebSocket transport: protocol v1 over `ws`, attached to an existing HTTP(S) server.
 *
 * It listens to the server's `upgrade` event for its path only (`noServer` mode), hands each socket to the Hub,
 * passes inbound text frames to it, pings every `hub.heartbeatMs` (WebSocket ping frames and the protocol `ping`)
 * and terminates peers that did not answer since the previous ping.
 */
export class NativeTransport {
  /** The transport's name (`Connection.transport`, per-transport stats). */
  readonly name = 'native';
  readonly path: string;
  /** The underlying `ws` server (noServer mode). */
  readonly wss: WebSocketServer;
  readonly #hub: Hub;
  readonly #forceCloseMs: number;
  readonly #owner: SocketOwner;
  /** The sockets open when the transport closed: the Hub forgets them at once, the close handshakes take longer. */
  #closing: NativeSocket[] | undefined;
  #server: HttpServer | HttpsServer | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;
  /** Upgrade requests refused, by HTTP status. */
  readonly refused: Record<number, number> = {};

  constructor(hub: Hub, options: NativeTransportOptions = {}) {
    const path = options.path ?? '/ws';
    if (typeof path !== 'string' || !path.startsWith('/') || path.includes('?')) {
      throw new TypeError(`path must start with "/" and hold no query, got ${JSON.stringify(path)}`);
    }
    const forceCloseMs = options.forceCloseMs ?? 5_000;
    if (!Number.isInteger(forceCloseMs) || forceCloseMs < 0) {
      throw new TypeError(`forceCloseMs must be an integer >= 0, got ${String(options.forceCloseMs)}`);
    }
    this.path = path;
    this.#hub = hub;
    this.#admission.admit = options.admit;
    this.#forceCloseMs = forceCloseMs;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: hub.limits.maxPayloadBytes,
      // compression fragments memory and costs CPU per subscriber: never on
      perMessageDeflate: false,
      clientTracking: false,
      // sockets are NativeSockets: the ws object is also the Hub's TransportSocket
      WebSocket: NativeSocket,
    });
    this.#owner = { hub, forceCloseMs };
  }

  /** The number of open sockets. */
  get size(): number {
    let n = 0;
    if (this.#closing !== undefined) {
      for (const socket of this.#closing) if (socket.readyState !== NativeSocket.CLOSED) n++;
      return n;
    }
    for (const _ of this.#own()) n++;
    return n;
  }

  /** This transport's sockets: the Hub's connections, so no second registry costs memory per connection. */
  *#own(): IterableIterator<NativeSocket> {
    for (const conn of this.#hub.connections()) {
      const socket = conn.socket;
      if (socket instanceof NativeSocket && socket.owner === this.#owner) yield socket;
    }
  }

  /** Starts accepting upgrades on `server` (which keeps serving everything else). */
  attach(server: HttpServer | HttpsServer): void {
    if (this.#server !== undefined) throw new TypeError('this transport is already attached to a server');
    if (this.#closed) throw new TypeError('this transport is closed');
    this.#server = server;
    server.on('upgrade', this.#onUpgrade);
    this.#heartbeat = setInterval(this.#beat, this.#hub.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Stops accepting upgrades and stops the heartbeat. Open connections are closed by the Hub. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = [...this.#own()];
    this.#server?.off('upgrade', this.#onUpgrade);
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.wss.close();
  }

  /** Drops every socket at once, without a close handshake (after a graceful close timed out). */
  terminateAll(): void {
    for (const socket of this.#closing ?? [...this.#own()]) socket.terminate();
  }

  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (!this.handles(request.url)) return;
    // the socket may error while admission runs; without a listener that would crash the process
    socket.on('error', ignoreSocketError);
    if (this.#closed || this.#hub.closed) {
      refuseUpgradeWith(socket, shuttingDown());
      return;
    }
    admitUpgrade(request, socket, head, this.#admission);
  };

  /** How this transport's upgrades are admitted, opened and counted (the shared upgrade plumbing of core). */
  readonly #admission: UpgradeAdmission<WebSocket> = {
    admit: undefined, // set in the constructor
    context: ADMISSION_CONTEXT,
    closed: () => this.#closed || this.#hub.closed,
    handshake: (request, socket, head, done) => this.wss.handleUpgrade(request, socket, head, done),
    open: (ws, request, admission) => this.#open(ws, request, admission),
    refused: (status) => {
      this.refused[status] = (this.refused[status] ?? 0) + 1;
    },
  };

  /** `true` for a request URL (or path) this transport serves: its path, with or without a trailing slash. */
  handles(url: string | undefined): boolean {
    if (url === undefined) return false;
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    return pathname === this.path || pathname === `${this.path}/`;
  }

  #open(ws: WebSocket, request: IncomingMessage, admission: Admission | undefined): Connection | undefined {
    const socket = ws as NativeSocket;
    let conn: Connection;
    try {
      conn = this.#hub.addConnection({
        socket,
        transport: 'native',
        ip: admission?.ip ?? request.socket.remoteAddress ?? '',
        ...(admission?.identity === undefined ? {} : { identity: admission.identity }),
      });
    } catch (error) {
      // the Hub refuses (shutting down: 1001; overloaded: 4503 with the reason)
      if (isUnisocketError(error) && error.closeCode !== undefined)
        socket.close(error.closeCode, truncateReason(error.message));
      else socket.close(1001, 'server shutting down');
      return undefined;
    }
    socket.serve(this.#owner, conn);
    return conn;
  }

  readonly #beat = (): void => {
    for (const socket of [...this.#own()]) {
      if (!socket.alive) {
        socket.terminate();
        continue;
      }
      socket.alive = false;
      socket.heartbeat();
    }
  };
}
