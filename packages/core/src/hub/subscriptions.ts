import type { EventEmitter } from 'node:events';
import { type Connection, Subscription, SubscriptionList } from '../connection';
import { type ChannelKind, channelKind, userIdOfChannel } from '../protocol/channel';
import { ErrorCode } from '../protocol/constants';
import { UnisocketError } from '../protocol/errors';
import type {
  ChannelName,
  PresenceMember,
  Ref,
  StreamPosition,
  SubscribeCommand,
  UnsubscribeCommand,
} from '../protocol/types';
import type { MaybePromise } from '../util';
import { isPromiseLike, settle } from '../util';
import type { Backpressure } from './backpressure';
import type { HubEvents } from './events';
import type { HubPolicy, SubscribeGrant } from './options';
import type { PresenceTracker } from './presence-tracker';
import type { Recovery } from './recovery';
import type { ChannelRegistry } from './registry';
import { type Replies, badRequest, forbidden, refOpt, withErrorContext, withRef } from './replies';
import { NO_REPLY, type Reply, type ReplyOrNone } from './reply';

/**
 * `subscribe` and `unsubscribe`: limits, authorization (user channels by the Hub; reserved channels by
 * {@link HubPolicy.authorizeReserved} first; the rest by the socket's own hook or {@link HubPolicy.authorizeSubscribe}),
 * presence membership, then the channel; {@link Recovery} acks and streams.
 * A subscription goes `pending` (authorizing, or waiting for its channel to activate) → `syncing` → `live` →
 * `closed`; whenever it ends before its ack, the command it owes a reply is answered with an error.
 */
export class Subscriptions {
  readonly #maxSubscriptions: number;
  readonly #maxPresenceChannels: number;
  readonly #policy: HubPolicy;
  readonly #events: EventEmitter<HubEvents>;
  readonly #replies: Replies;
  readonly #channels: ChannelRegistry;
  readonly #recovery: Recovery;
  readonly #presence: PresenceTracker;
  readonly #backpressure: Backpressure;

  constructor(
    maxSubscriptions: number,
    maxPresenceChannels: number,
    policy: HubPolicy,
    events: EventEmitter<HubEvents>,
    replies: Replies,
    channels: ChannelRegistry,
    recovery: Recovery,
    presence: PresenceTracker,
    backpressure: Backpressure,
  ) {
    this.#maxSubscriptions = maxSubscriptions;
    this.#maxPresenceChannels = maxPresenceChannels;
    this.#policy = policy;
    this.#events = events;
    this.#replies = replies;
    this.#channels = channels;
    this.#recovery = recovery;
    this.#presence = presence;
    this.#backpressure = backpressure;
  }

  subscribe(conn: Connection, cmd: SubscribeCommand, reply: Reply): void {
    const name = cmd.channel;
    const ref = cmd.ref;
    const replies = this.#replies;
    const existing = conn.subs?.get(name);
    if (existing !== undefined) {
      if (existing.state === 'live' && cmd.since === undefined) {
        const ch = existing.channel!;
        replies.reply(conn, reply, withRef({ type: 'ack', channel: name, epoch: ch.epoch, offset: ch.flushed }, ref));
        return;
      }
      if (existing.state !== 'live') {
        replies.fail(conn, badRequest(`a subscription to "${name}" is already in progress`, ref, name), reply);
        return;
      }
      // a live subscription asked to recover (e.g. the automatic user channel after a reconnect): start over
      this.detach(existing, true);
    }
    if ((conn.subs?.size ?? 0) >= this.#maxSubscriptions) {
      replies.fail(
        conn,
        new UnisocketError(
          ErrorCode.LIMIT_EXCEEDED,
          `at most ${this.#maxSubscriptions} subscriptions per connection; unsubscribe first`,
          { ...refOpt(ref), channel: name },
        ),
        reply,
      );
      return;
    }
    const kind = channelKind(name);
    if (kind === 'presence' && presenceCount(conn) >= this.#maxPresenceChannels) {
      replies.fail(
        conn,
        new UnisocketError(
          ErrorCode.LIMIT_EXCEEDED,
          `at most ${this.#maxPresenceChannels} presence channels per connection; leave one first`,
          { ...refOpt(ref), channel: name },
        ),
        reply,
      );
      return;
    }
    if (kind === 'user') {
      const owner = userIdOfChannel(name);
      if (conn.userId === null || conn.userId !== owner) {
        replies.fail(
          conn,
          conn.userId === null
            ? new UnisocketError(ErrorCode.UNAUTHORIZED, `"${name}" is a personal channel: authenticate first`, {
                ...refOpt(ref),
                channel: name,
              })
            : new UnisocketError(ErrorCode.FORBIDDEN, `"${name}" is the personal channel of another user`, {
                ...refOpt(ref),
                channel: name,
              }),
          reply,
        );
        return;
      }
    }
    const sub = add(conn, name);
    sub.owed = { ref, reply };
    if (kind === 'user') {
      this.#attach(sub, cmd.since, ref, reply, undefined);
      return;
    }
    settle(
      () => this.#authorize(conn, name, kind, cmd.token, cmd.channelData),
      (grant) => {
        if (sub.state === 'closed') return;
        if (grant === false) {
          this.abort(sub, forbidden(name, kind, ref), reply);
          return;
        }
        let member: PresenceMember | undefined;
        if (kind === 'presence') {
          const granted = grant === true ? undefined : grant;
          if (granted?.userId !== undefined && conn.userId !== null && granted.userId !== conn.userId) {
            this.abort(
              sub,
              new UnisocketError(
                ErrorCode.FORBIDDEN,
                `the authorization for "${name}" names user "${granted.userId}", but this connection is "${conn.userId}"`,
                { ...refOpt(ref), channel: name },
              ),
              reply,
            );
            return;
          }
          const userId = conn.userId ?? granted?.userId;
          if (userId === undefined) {
            this.abort(
              sub,
              new UnisocketError(
                ErrorCode.UNAUTHORIZED,
                `presence channel "${name}" needs a user: authenticate first, or send a subscription token naming the member`,
                { ...refOpt(ref), channel: name },
              ),
              reply,
            );
            return;
          }
          const info = granted?.info ?? conn.info;
          member = info === undefined ? { userId } : { userId, info };
        }
        this.#attach(sub, cmd.since, ref, reply, member);
      },
      (error) => this.abort(sub, withErrorContext(error, ref, name, ErrorCode.FORBIDDEN), reply),
    );
  }

  /** Subscribes a connection to its user's personal channel (no command asked for it: nothing is acked). */
  subscribeUserChannel(conn: Connection, name: ChannelName): void {
    if (conn.isSubscribed(name)) return;
    this.#attach(add(conn, name), undefined, undefined, NO_REPLY, undefined);
  }

  #authorize(
    conn: Connection,
    channel: ChannelName,
    kind: ChannelKind,
    token: string | undefined,
    channelData: string | undefined,
  ): MaybePromise<boolean | SubscribeGrant> {
    const guard = this.#policy.authorizeReserved;
    if (guard !== undefined) {
      const reserved = guard(conn, channel);
      if (reserved !== undefined) {
        if (!isPromiseLike(reserved)) return permitReserved(reserved, channel);
        return reserved.then((ok: boolean | undefined) =>
          ok === undefined
            ? this.#authorizeChannel(conn, channel, kind, token, channelData)
            : permitReserved(ok, channel),
        );
      }
    }
    return this.#authorizeChannel(conn, channel, kind, token, channelData);
  }

  /** The subscription's own authorization: the socket's (a Pusher signature), else the policy's, else public only. */
  #authorizeChannel(
    conn: Connection,
    channel: ChannelName,
    kind: ChannelKind,
    token: string | undefined,
    channelData: string | undefined,
  ): MaybePromise<boolean | SubscribeGrant> {
    const own = conn.socket.authorizeSubscribe;
    if (own !== undefined) return own.call(conn.socket, channel, { kind, token, channelData });
    const hook = this.#policy.authorizeSubscribe;
    if (hook !== undefined) return hook(conn, channel, { kind, token, channelData });
    return kind === 'public';
  }

  /** Takes the channel (waiting for it to activate at the broker if needed), adds presence, then starts streaming. */
  #attach(
    sub: Subscription,
    since: StreamPosition | undefined,
    ref: Ref | undefined,
    reply: ReplyOrNone,
    member: PresenceMember | undefined,
  ): void {
    const ch = this.#channels.acquire(sub.name);
    sub.channel = ch;
    const proceed = (): void => {
      if (sub.state === 'closed') return;
      if (member === undefined) {
        this.#recovery.start(sub, since, ref, reply, undefined);
        return;
      }
      this.#presence.join(
        sub,
        member,
        (members) => this.#recovery.start(sub, since, ref, reply, members),
        (error) =>
          this.abort(
            sub,
            withErrorContext(
              error,
              ref,
              sub.name,
              ErrorCode.UNAVAILABLE,
              `presence for "${sub.name}" is unavailable now`,
            ),
            reply,
          ),
      );
    };
    if (ch.active) {
      proceed();
      return;
    }
    (ch.waiters ??= []).push({
      ok: proceed,
      fail: (error) =>
        this.abort(
          sub,
          withErrorContext(error, ref, sub.name, ErrorCode.UNAVAILABLE, `cannot subscribe to "${sub.name}" now`),
          reply,
        ),
    });
  }

  unsubscribe(conn: Connection, cmd: UnsubscribeCommand, reply: Reply): void {
    const sub = conn.subs?.get(cmd.channel);
    if (sub !== undefined) {
      if (channelKind(cmd.channel) === 'user') {
        // the personal channel follows the identity: it cannot be left while authenticated
        this.#replies.fail(
          conn,
          badRequest(
            `"${cmd.channel}" is your personal channel; it stays subscribed while you are authenticated`,
            cmd.ref,
            cmd.channel,
          ),
          reply,
        );
        return;
      }
      this.detach(sub);
    }
    // idempotent: unsubscribing from a channel one is not subscribed to is acknowledged too
    this.#replies.reply(conn, reply, withRef({ type: 'ack', channel: cmd.channel }, cmd.ref));
  }

  /** Ends every subscription of a connection that closed. */
  detachAll(conn: Connection): void {
    if (conn.subs !== undefined) for (const sub of [...conn.subs.values()]) this.detach(sub);
  }

  /** Ends a subscription in whatever state it is. */
  detach(sub: Subscription, keepPresence = false): void {
    if (sub.state === 'closed') return;
    const wasLive = sub.state === 'live';
    sub.state = 'closed';
    // a subscription waiting for a replay slot leaves the queue: an unsubscribed one must not hold a place there
    this.#recovery.cancel(sub);
    const conn = sub.conn;
    if (conn.subs?.get(sub.name) === sub) conn.subs.delete(sub.name);
    const ch = sub.channel;
    if (ch !== undefined) {
      ch.live.delete(conn);
      ch.syncing?.delete(sub);
      sub.buffer = undefined;
      if (conn.backlog !== undefined) this.#backpressure.purge(conn, ch.name);
      this.#channels.release(ch);
    }
    if (sub.member !== undefined && !keepPresence) this.#presence.leave(sub.name, conn.id, sub.member);
    if (wasLive) this.#events.emit('unsubscribe', conn, sub.name);
    const owed = sub.owed;
    if (owed !== undefined) {
      // every command gets a reply: a subscribe ended before its ack (an unsubscribe overtook it) is answered
      sub.owed = undefined;
      if (!conn.closed) {
        this.#replies.fail(
          conn,
          badRequest(
            `the subscription to "${sub.name}" was cancelled by an unsubscribe before it completed`,
            owed.ref,
            sub.name,
          ),
          owed.reply,
        );
      }
    }
  }

  /** Ends a subscription that could not start and reports why. */
  abort(sub: Subscription, error: UnisocketError, reply: ReplyOrNone): void {
    if (sub.state === 'closed') return;
    sub.owed = undefined;
    this.detach(sub);
    this.#replies.fail(sub.conn, error, reply);
  }
}

/**
 * The answer of {@link HubPolicy.authorizeReserved} for a reserved channel: `true` allows, anything else refuses with
 * `FORBIDDEN` (thrown: the subscribe path reports it with the command's ref).
 */
function permitReserved(ok: boolean, channel: ChannelName): true {
  if (ok === true) return true;
  throw new UnisocketError(
    ErrorCode.FORBIDDEN,
    `"${channel}" is a reserved channel and this connection is not permitted to subscribe to it (the server's reserved-channel rule decides who may)`,
    { channel },
  );
}

/** A new subscription in a connection's list. */
function add(conn: Connection, name: ChannelName): Subscription {
  const sub = new Subscription(conn, name);
  if (conn.subs === undefined) conn.subs = new SubscriptionList(sub);
  else conn.subs.set(name, sub);
  return sub;
}

/** The presence subscriptions a connection holds (any state). Only counted when it subscribes to one more. */
function presenceCount(conn: Connection): number {
  let n = 0;
  if (conn.subs !== undefined) for (const name of conn.subs.keys()) if (channelKind(name) === 'presence') n++;
  return n;
}
