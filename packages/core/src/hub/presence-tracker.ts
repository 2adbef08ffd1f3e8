import type { EventEmitter } from 'node:events';
import type { Broker } from '../broker';
import type { Connection, Subscription } from '../connection';
import { channelKind } from '../protocol/channel';
import { ErrorCode } from '../protocol/constants';
import { UnisocketError } from '../protocol/errors';
import type { ChannelName, ConnectionId, PresenceCommand, PresenceMember } from '../protocol/types';
import { type MaybePromise, settle } from '../util';
import type { HubEvents } from './events';
import type { PresenceOptions } from './options';
import { type Replies, badRequest, refOpt, withErrorContext, withRef } from './replies';
import type { Reply } from './reply';

/**
 * Presence channels' members: joining (within `maxMembers`), leaving after `leaveGraceMs` (a page reload within it
 * is neither a leave nor a join), announcing join/leave to the channel, and the `presence` command. The members
 * themselves are kept by the broker's {@link PresenceStore}.
 */
export class PresenceTracker {
  /** `true` once the Hub is closing: leaves happen at once. */
  closing = false;
  /** Presence removals waiting out `leaveGraceMs`, by channel and connection. */
  readonly #pendingLeaves = new Map<string, { timer: NodeJS.Timeout; remove: () => void }>();
  readonly #options: Readonly<PresenceOptions>;
  readonly #broker: Broker;
  readonly #events: EventEmitter<HubEvents>;
  readonly #replies: Replies;

  constructor(options: Readonly<PresenceOptions>, broker: Broker, events: EventEmitter<HubEvents>, replies: Replies) {
    this.#options = options;
    this.#broker = broker;
    this.#events = events;
    this.#replies = replies;
  }

  /**
   * Adds a subscription's member to its channel, then calls `then` with the members; `fail` gets why it could not
   * (a full channel: `LIMIT_EXCEEDED`; a store error).
   */
  join(
    sub: Subscription,
    member: PresenceMember,
    then: (members: PresenceMember[]) => void,
    fail: (error: unknown) => void,
  ): void {
    const store = this.#broker.presence;
    settle(
      () => store.count(sub.name),
      (count) => {
        if (sub.state === 'closed') return;
        if (count >= this.#options.maxMembers) {
          // a user already present may open more connections
          settle(
            () => store.members(sub.name),
            (members) => {
              if (members.some((m) => m.userId === member.userId)) this.#add(sub, member, then, fail);
              else
                fail(
                  new UnisocketError(
                    ErrorCode.LIMIT_EXCEEDED,
                    `presence channel "${sub.name}" is full (${this.#options.maxMembers} members)`,
                    { channel: sub.name },
                  ),
                );
            },
            fail,
          );
          return;
        }
        this.#add(sub, member, then, fail);
      },
      fail,
    );
  }

  #add(
    sub: Subscription,
    member: PresenceMember,
    then: (members: PresenceMember[]) => void,
    fail: (error: unknown) => void,
  ): void {
    const store = this.#broker.presence;
    // the same connection left this channel within the grace and is back: its membership never ended
    const pending = this.#pendingLeaves.get(leaveKey(sub.name, sub.conn.id));
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      this.#pendingLeaves.delete(leaveKey(sub.name, sub.conn.id));
    }
    settle(
      () => store.add(sub.name, sub.conn.id, member),
      (result) => {
        sub.member = member;
        // announced even when the subscription ended meanwhile: the member is in the store until its leave, and a
        // leave the store reports later must follow a join (else another node's tab of the same user would leave
        // a member that never joined)
        if (result.joined) this.announce(sub.name, 'join', member);
        if (sub.state === 'closed') {
          // unsubscribed while joining: undo
          this.leave(sub.name, sub.conn.id, member);
          return;
        }
        settle(() => store.members(sub.name), then, fail);
      },
      fail,
    );
  }

  /** Removes a member's connection from a channel, after `leaveGraceMs` (at once while closing). */
  leave(channel: ChannelName, connectionId: ConnectionId, member: PresenceMember): void {
    const remove = (): void =>
      settle(
        () => this.#broker.presence.remove(channel, connectionId, member.userId),
        (result) => {
          if (result.left) this.announce(channel, 'leave', result.member ?? member);
        },
        (error) => this.#replies.emitError(error),
      );
    const grace = this.#options.leaveGraceMs;
    if (grace === 0 || this.closing) {
      remove();
      return;
    }
    const key = leaveKey(channel, connectionId);
    const previous = this.#pendingLeaves.get(key);
    if (previous !== undefined) clearTimeout(previous.timer);
    const timer = setTimeout(() => {
      this.#pendingLeaves.delete(key);
      remove();
    }, grace);
    timer.unref();
    this.#pendingLeaves.set(key, { timer, remove });
  }

  /**
   * Tells a channel's subscribers (on every node) that a member joined or left, and emits the Hub's `presence` event
   * (on this node only: exactly one node announces each change). Store keys that are no channel (occupancy keys,
   * which the Hub routes elsewhere) are never announced.
   */
  announce(channel: ChannelName, action: 'join' | 'leave', member: PresenceMember): void {
    if (isReservedKey(channel)) return;
    this.#broker.publishVolatile(channel, JSON.stringify({ type: 'presence', channel, action, member }));
    this.#events.emit('presence', channel, action, member);
  }

  /** The `presence` command: the members of a presence channel the connection is subscribed to. */
  command(conn: Connection, cmd: PresenceCommand, reply: Reply): void {
    const { channel, ref } = cmd;
    if (channelKind(channel) !== 'presence') {
      this.#replies.fail(
        conn,
        badRequest(`"${channel}" is not a presence channel (presence channels start with "presence-")`, ref, channel),
        reply,
      );
      return;
    }
    if (conn.subs?.get(channel)?.state !== 'live') {
      this.#replies.fail(
        conn,
        new UnisocketError(ErrorCode.FORBIDDEN, `subscribe to "${channel}" before asking for its members`, {
          ...refOpt(ref),
          channel,
        }),
        reply,
      );
      return;
    }
    settle(
      () => this.#broker.presence.members(channel),
      (members) => this.#replies.reply(conn, reply, withRef({ type: 'ack', channel, members }, ref)),
      (error) => this.#replies.fail(conn, withErrorContext(error, ref, channel, ErrorCode.UNAVAILABLE), reply),
    );
  }

  /** The members of a presence channel (cluster-wide when the broker's presence is). */
  members(channel: ChannelName): MaybePromise<PresenceMember[]> {
    // the store's own keys (occupancy) are no channel and have no members to show
    if (isReservedKey(channel)) return [];
    return this.#broker.presence.members(channel);
  }

  /** Applies the leaves still waiting out their grace: a shared presence store must not keep them. */
  close(): void {
    this.closing = true;
    const pending = [...this.#pendingLeaves.values()];
    this.#pendingLeaves.clear();
    for (const { timer, remove } of pending) {
      clearTimeout(timer);
      remove();
    }
  }
}

/** `true` for a presence-store key that is no channel: `#…` (outside the channel alphabet), e.g. occupancy keys. */
function isReservedKey(key: string): boolean {
  return key.charCodeAt(0) === 35; /* # */
}

function leaveKey(channel: ChannelName, connectionId: ConnectionId): string {
  return `${connectionId} ${channel}`;
}
