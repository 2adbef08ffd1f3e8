import type { Connection } from '../connection';
import { CloseCode, ErrorCode } from '../protocol/constants';
import { UnisocketError } from '../protocol/errors';
import type { HubStats } from './events';
import type { SessionOptions } from './options';
import type { Replies } from './replies';

/** setTimeout's largest delay; identities expiring later are re-armed on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Keeps an identity's `expiresAt` with one timer per connection: a `refresh` frame ahead of it, then, without a
 * fresh token by `expiresAt + refreshGraceMs`, close 4001. Its state lives on the connection ({@link SessionState}).
 * Never armed per message; cleared on close.
 */
export class SessionClock {
  readonly #options: Readonly<SessionOptions>;
  readonly #stats: HubStats;
  readonly #replies: Replies;

  constructor(options: Readonly<SessionOptions>, stats: HubStats, replies: Replies) {
    this.#options = options;
    this.#stats = stats;
    this.#replies = replies;
  }

  /**
   * (Re)arms the connection's timer for a new identity: it fires when the `refresh` frame is due, then at
   * `expiresAt + refreshGraceMs`.
   */
  arm(conn: Connection, expiresAt: number | undefined): void {
    this.stop(conn);
    conn.refreshRequested = false;
    if (expiresAt === undefined || !Number.isFinite(expiresAt)) {
      conn.authExpiresAt = undefined;
      return;
    }
    conn.authExpiresAt = expiresAt;
    const now = Date.now();
    const remaining = expiresAt - now;
    conn.authRefreshAt = expiresAt - Math.min(this.#options.refreshLeadMs, Math.max(0, remaining / 2));
    // always through the timer, even when due now: the refresh frame must never precede `welcome`
    this.#schedule(conn, conn.authRefreshAt - now);
  }

  /** Stops the connection's timer (it closed, or is re-armed). */
  stop(conn: Connection): void {
    if (conn.authTimer !== undefined) {
      clearTimeout(conn.authTimer);
      conn.authTimer = undefined;
    }
  }

  #schedule(conn: Connection, delayMs: number): void {
    conn.authTimer = setTimeout(this.#onTimer, Math.min(MAX_TIMER_MS, Math.max(0, delayMs)), conn);
    conn.authTimer.unref();
  }

  readonly #onTimer = (conn: Connection): void => {
    conn.authTimer = undefined;
    const expiresAt = conn.authExpiresAt;
    if (conn.closed || expiresAt === undefined) return;
    const now = Date.now();
    if (!conn.refreshRequested) {
      if (now < conn.authRefreshAt) {
        this.#schedule(conn, conn.authRefreshAt - now); // a timer capped at MAX_TIMER_MS
        return;
      }
      conn.refreshRequested = true;
      this.#stats.refreshesRequested++;
      conn.send({ type: 'refresh', expiresAt, graceMs: this.#options.refreshGraceMs });
    }
    const closeAt = expiresAt + this.#options.refreshGraceMs;
    if (now < closeAt) {
      this.#schedule(conn, closeAt - now);
      return;
    }
    this.#stats.authExpired++;
    this.#replies.fail(
      conn,
      new UnisocketError(
        ErrorCode.UNAUTHORIZED,
        'token expired and was not refreshed in time: reconnect with a fresh token',
        { closeCode: CloseCode.UNAUTHORIZED },
      ),
      undefined,
    );
  };
}
