import type { Connection, Identity } from '../connection';
import { type DecodeLimits, decodeFrame } from '../codec';
import { isAppScoped } from '../protocol/channel';
import { ErrorCode } from '../protocol/constants';
import { UnisocketError } from '../protocol/errors';
import type { AckFrame, AuthCommand, ClientCommand } from '../protocol/types';
import { settle } from '../util';
import type { HubStats } from './events';
import type { HubPolicy } from './options';
import type { PresenceTracker } from './presence-tracker';
import type { Publisher } from './publisher';
import type { RateLimiter } from './rate-limiter';
import { type Replies, refOpt, withErrorContext, withRef } from './replies';
import type { Reply } from './reply';
import type { Subscriptions } from './subscriptions';

/** Commands that may wait behind an `auth` in progress (the rate limiter bounds them too). */
const MAX_HELD_COMMANDS = 1_000;

/** Commands an expired identity may still send while it waits out its refresh grace. */
const EXPIRED_ALLOWED: Readonly<Record<ClientCommand['type'], boolean>> = {
  auth: true,
  unsubscribe: true,
  ping: true,
  pong: true,
  subscribe: false,
  publish: false,
  presence: false,
};

/** What the router needs from the Hub. */
export interface RouterHost {
  /** Gives a connection the identity an `auth` command proved. */
  setIdentity(conn: Connection, identity: Identity): void;
}

/**
 * Inbound commands: decoding, the rate limit, and routing each command to the part that handles it, in order per
 * connection: while an `auth` is being verified the commands after it wait ({@link CommandQueueState}), so `auth`
 * then `subscribe` pipelined sees the identity. Also the `auth` command itself and `ping`.
 */
export class CommandRouter {
  readonly #decodeLimits: DecodeLimits;
  readonly #policy: HubPolicy;
  readonly #stats: HubStats;
  readonly #replies: Replies;
  readonly #rateLimiter: RateLimiter;
  readonly #subscriptions: Subscriptions;
  readonly #publisher: Publisher;
  readonly #presence: PresenceTracker;
  readonly #host: RouterHost;

  constructor(
    decodeLimits: DecodeLimits,
    policy: HubPolicy,
    stats: HubStats,
    replies: Replies,
    rateLimiter: RateLimiter,
    subscriptions: Subscriptions,
    publisher: Publisher,
    presence: PresenceTracker,
    host: RouterHost,
  ) {
    this.#decodeLimits = decodeLimits;
    this.#policy = policy;
    this.#stats = stats;
    this.#replies = replies;
    this.#rateLimiter = rateLimiter;
    this.#subscriptions = subscriptions;
    this.#publisher = publisher;
    this.#presence = presence;
    this.#host = host;
  }

  /** See {@link Hub.handleText}. */
  handleText(conn: Connection, text: string): void {
    if (conn.closed) return;
    const results = decodeFrame(text, this.#decodeLimits);
    for (const result of results) {
      if (conn.closed) return;
      if (result instanceof UnisocketError) {
        this.handleInvalid(conn, result, undefined);
      } else {
        this.handleCommand(conn, result, undefined);
      }
    }
  }

  /** See {@link Hub.handleCommand}. */
  handleCommand(conn: Connection, cmd: ClientCommand, reply: Reply): void {
    if (conn.closed) return;
    conn.commandsIn++;
    if (cmd.type === 'pong') return;
    if (!this.#rateLimiter.take(conn, cmd.ref, reply)) return;
    if (conn.held !== undefined) {
      if (conn.held.length >= MAX_HELD_COMMANDS) {
        this.#replies.fail(
          conn,
          new UnisocketError(
            ErrorCode.LIMIT_EXCEEDED,
            `at most ${MAX_HELD_COMMANDS} commands may wait for an auth in progress; wait for its reply`,
            refOpt(cmd.ref),
          ),
          reply,
        );
        return;
      }
      conn.held.push([cmd, reply]);
      return;
    }
    this.#run(conn, cmd, reply);
  }

  /** See {@link Hub.handleInvalid}. */
  handleInvalid(conn: Connection, error: UnisocketError, reply: Reply): void {
    if (conn.closed) return;
    conn.commandsIn++;
    if (!this.#rateLimiter.take(conn, error.ref, reply)) return;
    this.#replies.fail(conn, error, reply);
  }

  #run(conn: Connection, cmd: ClientCommand, reply: Reply): void {
    // an expired identity may only refresh, leave channels and ping until it is refreshed or closed
    if (conn.authExpiresAt !== undefined && !EXPIRED_ALLOWED[cmd.type] && conn.authExpiresAt <= Date.now()) {
      this.#replies.fail(
        conn,
        new UnisocketError(
          ErrorCode.UNAUTHORIZED,
          `your token expired at ${new Date(conn.authExpiresAt).toISOString()}: send "auth" with a fresh token`,
          refOpt(cmd.ref),
        ),
        reply,
      );
      return;
    }
    switch (cmd.type) {
      case 'subscribe':
        this.#subscriptions.subscribe(conn, cmd, reply);
        return;
      case 'unsubscribe':
        this.#subscriptions.unsubscribe(conn, cmd, reply);
        return;
      case 'publish':
        this.#publisher.command(conn, cmd, reply);
        return;
      case 'auth':
        this.#auth(conn, cmd, reply);
        return;
      case 'presence':
        this.#presence.command(conn, cmd, reply);
        return;
      case 'ping':
        this.#replies.reply(conn, reply, cmd.ref === undefined ? { type: 'pong' } : { type: 'pong', ref: cmd.ref });
        return;
    }
  }

  #auth(conn: Connection, cmd: AuthCommand, reply: Reply): void {
    const hook = this.#policy.authenticate;
    const replies = this.#replies;
    if (hook === undefined) {
      replies.fail(
        conn,
        new UnisocketError(ErrorCode.UNAUTHORIZED, 'authentication is not configured on this server', refOpt(cmd.ref)),
        reply,
      );
      return;
    }
    conn.held = [];
    settle(
      () => hook(conn, cmd.token),
      (identity) => {
        if (conn.closed) return;
        if (isAppScoped(identity.userId)) {
          replies.fail(
            conn,
            new UnisocketError(
              ErrorCode.UNAUTHORIZED,
              `user ids starting with "app:" are reserved for other apps' namespaces`,
              refOpt(cmd.ref),
            ),
            reply,
          );
          this.#releaseHeld(conn);
          return;
        }
        if (conn.userId !== null && conn.userId !== identity.userId) {
          replies.fail(
            conn,
            new UnisocketError(
              ErrorCode.FORBIDDEN,
              `this connection is authenticated as "${conn.userId}"; open a new connection to change users`,
              refOpt(cmd.ref),
            ),
            reply,
          );
          this.#releaseHeld(conn);
          return;
        }
        this.#host.setIdentity(conn, identity);
        const ack: AckFrame = withRef({ type: 'ack', userId: identity.userId }, cmd.ref);
        if (identity.expiresAt !== undefined) ack.expiresAt = identity.expiresAt;
        replies.reply(conn, reply, ack);
        this.#releaseHeld(conn);
      },
      (error) => {
        this.#stats.authFailures++;
        replies.fail(conn, withErrorContext(error, cmd.ref, undefined, ErrorCode.UNAUTHORIZED, 'invalid token'), reply);
        this.#releaseHeld(conn);
      },
    );
  }

  /** Runs the commands that waited for an auth, in order; an auth among them holds the rest again. */
  #releaseHeld(conn: Connection): void {
    const held = conn.held;
    conn.held = undefined;
    if (held === undefined) return;
    for (let i = 0; i < held.length; i++) {
      if (conn.closed) return;
      // #run may have started another auth (TypeScript cannot see through the call)
      const again = conn.held as typeof held | undefined;
      if (again !== undefined) {
        for (let j = i; j < held.length; j++) again.push(held[j]!);
        return;
      }
      const [cmd, reply] = held[i]!;
      this.#run(conn, cmd, reply);
    }
  }
}
