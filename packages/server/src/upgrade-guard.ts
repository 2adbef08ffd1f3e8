import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { ErrorCode, refuseUpgrade } from '@unisocket/core';

/** Options of {@link UpgradeGuard}. */
export interface UpgradeGuardOptions {
  /** `true` for a request path one of the service's transports serves (`/ws`, `/socket.io/…`). */
  ownsPath(pathname: string): boolean;
  /**
   * How long an upgrade may stay unanswered (no byte written back) before it is answered with an HTTP error and
   * closed, in ms; `0` turns the deadline off (the error guard stays).
   */
  timeoutMs: number;
  /** Called for each upgrade the guard answered itself, with the HTTP status it sent. */
  onRefused?(status: number): void;
}

const noop = (): void => {};

/**
 * Makes the server's `upgrade` event safe for everyone who listens to it.
 *
 * Node removes its own socket error handler before it emits `upgrade`, and the HTTP header and request timeouts no
 * longer apply to a socket handed over: a client that resets an upgrade nobody took would crash the process with an
 * unhandled `error`, and one that sends an upgrade nobody answers would hold a descriptor forever. The guard listens
 * first, gives every upgrade socket an error listener, answers at once (404) an upgrade for a path nothing serves
 * when the service's transports are the only `upgrade` listeners, and otherwise answers and closes, after
 * `timeoutMs`, an upgrade that nobody has written a byte to (404 on a foreign path, 408 on the service's own). The
 * application's own `upgrade` handlers keep working: they see every upgrade, as before.
 */
export class UpgradeGuard {
  readonly #options: UpgradeGuardOptions;
  /** The `upgrade` listeners of the service (the guard's own included): the rest are the application's. */
  readonly #own = new Set<unknown>();
  #server: HttpServer | HttpsServer | undefined;
  /** Upgrades not answered within their first turn, until answered, closed, or refused at their deadline. */
  readonly #watched = new Map<Duplex, { deadline: number; own: boolean }>();
  #sweeper: NodeJS.Timeout | undefined;
  #accepting = true;

  constructor(options: UpgradeGuardOptions) {
    this.#options = options;
    this.#own.add(this.#onUpgrade);
  }

  /** Starts guarding `server`'s upgrades; the guard's listener runs before every other one. */
  attach(server: HttpServer | HttpsServer): void {
    this.#server = server;
    server.prependListener('upgrade', this.#onUpgrade);
  }

  /** Marks `upgrade` listeners as the service's own (the transports'), so they do not count as the application's. */
  own(listeners: readonly unknown[]): void {
    for (const listener of listeners) this.#own.add(listener);
  }

  /**
   * The service is shutting down: upgrades on its paths are answered 503 (with `Retry-After`) at once, and so are
   * those still waiting for an answer, since the transports that would answer them have stopped.
   */
  stopAccepting(): void {
    this.#accepting = false;
    for (const [socket, { own }] of this.#watched) {
      if (!own) continue;
      this.#watched.delete(socket);
      this.#settleShuttingDown(socket);
    }
  }

  /** Stops guarding (the listener leaves the server); upgrades still waiting on the service's paths get 503. */
  detach(): void {
    this.#server?.off('upgrade', this.#onUpgrade);
    this.#server = undefined;
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const [socket, { own }] of this.#watched) if (own) this.#settleShuttingDown(socket);
    this.#watched.clear();
  }

  /**
   * A watched upgrade at shutdown: one answered since the last sweep is a WebSocket now (writing an HTTP answer into
   * it would corrupt its stream), so only a still unanswered one is refused.
   */
  #settleShuttingDown(socket: Duplex): void {
    if (socket.destroyed) return;
    if (answered(socket)) release(socket);
    else this.#refuseShuttingDown(socket);
  }

  #refuseShuttingDown(socket: Duplex): void {
    this.#options.onRefused?.(503);
    refuseUpgrade(
      socket,
      503,
      { error: ErrorCode.UNAVAILABLE, message: 'the server is shutting down; retry in a moment or connect elsewhere' },
      ['Retry-After: 1'],
    );
  }

  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex): void => {
    socket.on('error', noop);
    const pathname = pathOf(request.url);
    const own = this.#options.ownsPath(pathname);
    if (own && !this.#accepting) {
      this.#refuseShuttingDown(socket);
      return;
    }
    if (!own && !this.#foreignListeners()) {
      this.#refuse(socket, 404, `nothing serves WebSocket upgrades on ${JSON.stringify(pathname.slice(0, 100))}`);
      return;
    }
    if (this.#options.timeoutMs === 0) return;
    // most upgrades are answered within this turn (a synchronous admission): only the others are watched, so an
    // idle connection costs no timer
    setImmediate(this.#afterTurn, socket, own, Date.now());
  };

  readonly #afterTurn = (socket: Duplex, own: boolean, startedAt: number): void => {
    if (socket.destroyed) return;
    if (answered(socket)) {
      release(socket);
      return;
    }
    this.#watched.set(socket, { deadline: startedAt + this.#options.timeoutMs, own });
    if (this.#sweeper === undefined) {
      const every = Math.max(20, Math.min(1_000, Math.floor(this.#options.timeoutMs / 4)));
      this.#sweeper = setInterval(this.#sweep, every);
      this.#sweeper.unref();
    }
  };

  /** Answers and closes what is still unanswered at its deadline; forgets what was answered or closed. */
  readonly #sweep = (): void => {
    const now = Date.now();
    for (const [socket, { deadline, own }] of this.#watched) {
      if (socket.destroyed) {
        this.#watched.delete(socket);
      } else if (answered(socket)) {
        this.#watched.delete(socket);
        release(socket);
      } else if (now >= deadline) {
        this.#watched.delete(socket);
        const timeoutMs = this.#options.timeoutMs;
        this.#refuse(
          socket,
          own ? 408 : 404,
          own
            ? `the upgrade was not completed within ${timeoutMs} ms`
            : `no handler answered this upgrade within ${timeoutMs} ms`,
        );
      }
    }
    if (this.#watched.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  };

  #foreignListeners(): boolean {
    const server = this.#server;
    if (server === undefined) return false;
    for (const listener of server.listeners('upgrade')) if (!this.#own.has(listener)) return true;
    return false;
  }

  #refuse(socket: Duplex, status: number, message: string): void {
    this.#options.onRefused?.(status);
    refuseUpgrade(socket, status, { error: status === 404 ? ErrorCode.NOT_FOUND : ErrorCode.UNAVAILABLE, message });
  }
}

/** `true` once someone wrote to the socket (a 101, or an error answer): the upgrade is theirs. */
function answered(socket: Duplex): boolean {
  return ((socket as { bytesWritten?: number }).bytesWritten ?? 0) > 0;
}

/** Whoever took the socket listens for its errors now: the guard's listener goes. */
function release(socket: Duplex): void {
  if (socket.listenerCount('error') > 1) socket.off('error', noop);
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
