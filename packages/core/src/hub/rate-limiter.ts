import type { Connection } from '../connection';
import { CloseCode, ErrorCode } from '../protocol/constants';
import { UnisocketError } from '../protocol/errors';
import type { Ref } from '../protocol/types';
import type { HubStats } from './events';
import type { Replies } from './replies';
import type { Reply } from './reply';

/**
 * The per-connection command rate limit: a token bucket of `messagesPerSecond`, bursts up to twice that. A refused
 * command gets `RATE_LIMITED`; a client that keeps going for another second's worth is closed with 4029.
 * Its state lives on the connection ({@link RateLimitState}: `tokens`, `refilledAt`, `violations`).
 */
export class RateLimiter {
  /** The bucket's size, and a new connection's tokens. */
  readonly burst: number;
  readonly #rate: number;
  readonly #stats: HubStats;
  readonly #replies: Replies;

  constructor(messagesPerSecond: number, stats: HubStats, replies: Replies) {
    this.#rate = messagesPerSecond;
    this.burst = messagesPerSecond * 2;
    this.#stats = stats;
    this.#replies = replies;
  }

  /** Takes a token for one command. @returns `false` when refused (the error was sent) */
  take(conn: Connection, ref: Ref | undefined, reply: Reply): boolean {
    const now = Date.now();
    const rate = this.#rate;
    const burst = this.burst;
    if (conn.tokens < burst) {
      conn.tokens = Math.min(burst, conn.tokens + ((now - conn.refilledAt) * rate) / 1000);
    }
    conn.refilledAt = now;
    if (conn.tokens >= 1) {
      conn.tokens -= 1;
      conn.violations = 0;
      return true;
    }
    this.#stats.rateLimited++;
    conn.violations++;
    const closing = conn.violations > rate;
    this.#replies.fail(
      conn,
      new UnisocketError(
        ErrorCode.RATE_LIMITED,
        closing
          ? `rate limit exceeded repeatedly (${rate} commands/s); closing`
          : `rate limit exceeded: at most ${rate} commands per second (bursts of ${burst}); slow down`,
        ref === undefined
          ? closing
            ? { closeCode: CloseCode.RATE_LIMITED }
            : {}
          : {
              ref,
              ...(closing ? { closeCode: CloseCode.RATE_LIMITED } : {}),
            },
      ),
      reply,
    );
    return false;
  }
}
