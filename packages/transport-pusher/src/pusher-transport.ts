import { randomInt } from 'node:crypto';
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
import { WebSocketServer } from 'ws';
import { AppNamespace } from './namespace';
import type { ResolvedPusherApp, ResolvedPusherOptions } from './options';
import { PusherCloseCode, PusherSocket, type PusherSocketOwner, truncateReason } from './pusher-socket';

const ADMISSION_CONTEXT = { transport: 'pusher' } as const;

/** Options of {@link PusherTransport}. */
export interface PusherTransportOptions {
  /** The resolved Pusher options (`resolvePusherOptions`): apps, path, activity timeout. */
  pusher: ResolvedPusherOptions;
  /** Decides each upgrade (limits, origin) before the WebSocket exists, with `{ transport: 'pusher' }`. */
  admit?: AdmissionCheck;
  /**
   * How long a client may stay silent after the server's `pusher:ping` (sent once it was quiet for the activity
   * timeout) before it is closed with 4201, in ms.
   * @default 30_000
   */
  pongTimeoutMs?: number;
  /**
   * How long a closing connection may take to complete the close handshake before it is dropped, in ms.
   * @default 5_000
   */
  forceCloseMs?: number;
}

/**
 * The Pusher Channels protocol (version 7) on the Hub: `pusher-js` 8 and Laravel Echo connect to
 * `{path}/{app key}?protocol=7`. Subscriptions, presence, limits and fan-out are the Hub's; this transport translates
 * the protocol, authorizes channels with the app's signatures, and keeps each app in its own namespace
 * ({@link AppNamespace}). Attached to an existing HTTP(S) server's `upgrade` event (`ws` in `noServer` mode).
 */
export class PusherTransport {
  /** The transport's name (`Connection.transport`). */
  readonly name = 'pusher';
  /** The WebSocket path prefix (`/app`). */
  readonly path: string;
  /** The underlying `ws` server (noServer mode). */
  readonly wss: WebSocketServer;
  /** Each app's namespace, by key. */
  readonly namespaces: ReadonlyMap<string, AppNamespace>;
  /** Upgrade requests refused, by HTTP status. */
  readonly refused: Record<number, number> = {};
  readonly #hub: Hub;
  readonly #admit: AdmissionCheck | undefined;
  readonly #owner: PusherSocketOwner;
  readonly #pongTimeoutMs: number;
  readonly #sockets = new Map<string, PusherSocket>();
  #closing: PusherSocket[] | undefined;
  #server: HttpServer | HttpsServer | undefined;
  #liveness: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(hub: Hub, options: PusherTransportOptions) {
    const { pusher } = options;
    this.path = pusher.path;
    this.#hub = hub;
    this.#admit = options.admit;
    this.#pongTimeoutMs = options.pongTimeoutMs ?? 30_000;
    const namespaces = new Map<string, AppNamespace>();
    for (const [i, app] of pusher.apps.entries()) namespaces.set(app.key, new AppNamespace(app, i === 0));
    this.namespaces = namespaces;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: hub.limits.maxPayloadBytes,
      perMessageDeflate: false,
      clientTracking: false,
      WebSocket: PusherSocket,
    });
    this.#owner = { hub, forceCloseMs: options.forceCloseMs ?? 5_000, activityTimeoutSec: pusher.activityTimeoutSec };
  }

  /** The apps served, first (shared namespace) first. */
  get apps(): ResolvedPusherApp[] {
    return [...this.namespaces.values()].map((ns) => ns.app);
  }

  /** The number of open sockets. */
  get size(): number {
    if (this.#closing !== undefined) return this.#closing.filter((s) => s.readyState !== PusherSocket.CLOSED).length;
    return this.#sockets.size;
  }

  /** The Hub connection of a Pusher `socket_id` on this node (the REST API's `socket_id` exclusion). */
  connectionOf(socketId: string): Connection | undefined {
    return this.#sockets.get(socketId)?.conn;
  }

  /** `true` for `{path}/{key}` (any key: an unknown one is answered in the protocol, with 4001). */
  handles(url: string | undefined): boolean {
    if (url === undefined) return false;
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const prefix = `${this.path}/`;
    return pathname.startsWith(prefix) && pathname.length > prefix.length && !pathname.includes('/', prefix.length);
  }

  /** Starts accepting upgrades on `server`. */
  attach(server: HttpServer | HttpsServer): void {
    if (this.#server !== undefined) throw new TypeError('this transport is already attached to a server');
    if (this.#closed) throw new TypeError('this transport is closed');
    this.#server = server;
    server.on('upgrade', this.#onUpgrade);
    const activityMs = this.#owner.activityTimeoutSec * 1000;
    this.#liveness = setInterval(this.#checkLiveness, Math.max(100, Math.min(activityMs, this.#pongTimeoutMs) / 2));
    this.#liveness.unref();
  }

  /** Stops accepting upgrades; open connections are closed by the Hub. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = [...this.#sockets.values()];
    this.#server?.off('upgrade', this.#onUpgrade);
    if (this.#liveness !== undefined) clearInterval(this.#liveness);
    this.wss.close();
  }

  /** Drops every socket at once, without a close handshake. */
  terminateAll(): void {
    for (const socket of this.#closing ?? [...this.#sockets.values()]) socket.terminate();
  }

  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (!this.handles(request.url)) return;
    socket.on('error', ignoreSocketError);
    if (this.#closed || this.#hub.closed) {
      refuseUpgradeWith(socket, shuttingDown());
      return;
    }
    const url = new URL(request.url!, 'http://localhost');
    const key = decodeURIComponent(url.pathname.slice(this.path.length + 1));
    const namespace = this.namespaces.get(key);
    if (namespace === undefined) {
      // pusher-js learns why from the protocol: `pusher:error` 4001, then the close (it does not reconnect)
      this.#reject(
        request,
        socket,
        head,
        PusherCloseCode.APP_NOT_FOUND,
        `App key ${key.slice(0, 64)} not in this cluster`,
      );
      return;
    }
    if (url.searchParams.get('protocol') !== '7') {
      this.#reject(request, socket, head, PusherCloseCode.UNSUPPORTED_PROTOCOL, 'Unsupported protocol version: use 7');
      return;
    }
    admitUpgrade(request, socket, head, this.#upgradeFor(namespace));
  };

  /** Completes the handshake only to say why in the protocol, then closes. */
  #reject(request: IncomingMessage, socket: Duplex, head: Buffer, code: number, message: string): void {
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      socket.off('error', ignoreSocketError);
      (ws as PusherSocket).closeWith(code, message);
    });
  }

  /** How an upgrade for one app is admitted, opened and counted (the shared upgrade plumbing of core). */
  #upgradeFor(namespace: AppNamespace): UpgradeAdmission<PusherSocket> {
    return {
      admit: this.#admit,
      context: ADMISSION_CONTEXT,
      closed: () => this.#closed || this.#hub.closed,
      handshake: (request, socket, head, done) =>
        this.wss.handleUpgrade(request, socket, head, (ws) => done(ws as PusherSocket)),
      open: (ws, request, admission) => this.#open(ws, request, namespace, admission),
      refused: (status) => {
        this.refused[status] = (this.refused[status] ?? 0) + 1;
      },
    };
  }

  #open(
    socket: PusherSocket,
    request: IncomingMessage,
    namespace: AppNamespace,
    admission: Admission | undefined,
  ): Connection | undefined {
    socket.owner = this.#owner;
    socket.namespace = namespace;
    socket.socketId = this.#newSocketId();
    let conn: Connection;
    try {
      // Pusher identities come from the protocol (`pusher:signin`), not from the handshake
      conn = this.#hub.addConnection({
        socket,
        transport: 'pusher',
        ip: admission?.ip ?? request.socket.remoteAddress ?? '',
      });
    } catch (error) {
      const code = isUnisocketError(error) && error.closeCode !== undefined ? error.closeCode : 1001;
      socket.close(code, truncateReason(error instanceof Error ? error.message : 'server shutting down'));
      return undefined;
    }
    socket.serve(conn);
    this.#sockets.set(socket.socketId, socket);
    socket.once('close', () => this.#sockets.delete(socket.socketId));
    return conn;
  }

  /** A Pusher `socket_id` (`<digits>.<digits>`, what the server SDKs' validation expects), unique on this node. */
  #newSocketId(): string {
    for (;;) {
      const id = `${randomInt(1, 2 ** 47)}.${randomInt(1, 2 ** 47)}`;
      if (!this.#sockets.has(id)) return id;
    }
  }

  /** A client quiet for the activity timeout gets `pusher:ping`; still quiet after `pongTimeoutMs`, it is closed. */
  readonly #checkLiveness = (): void => {
    const now = Date.now();
    const quietAfter = now - this.#owner.activityTimeoutSec * 1000;
    for (const socket of this.#sockets.values()) {
      if (socket.pingedAt !== 0) {
        if (now - socket.pingedAt >= this.#pongTimeoutMs)
          socket.closeWith(PusherCloseCode.PONG_TIMEOUT, 'Pong reply not received');
      } else if (socket.lastSeen <= quietAfter) {
        socket.pingedAt = now;
        socket.sendEvent('pusher:ping', {});
      }
    }
  };
}
