import type { ChannelName, ConnectionId, PresenceMember, UserId } from './protocol/types';
import type { MaybePromise } from './util';

/** The answer of {@link PresenceStore.add}. */
export interface PresenceAddResult {
  /** `true` when this was the user's first connection in the channel: announce a `join`. */
  readonly joined: boolean;
  /** The number of distinct members after the change. */
  readonly memberCount: number;
}

/** The answer of {@link PresenceStore.remove}. */
export interface PresenceRemoveResult {
  /** `true` when this was the user's last connection in the channel: announce a `leave` with `member`. */
  readonly left: boolean;
  readonly member: PresenceMember | undefined;
}

/**
 * Members of presence channels, aggregated per user over that user's connections (tabs, devices, nodes).
 * The memory implementation is {@link MemoryPresenceStore}; `@unisocket/broker-redis` makes it cluster-wide.
 */
export interface PresenceStore {
  /** Adds one connection of a member to a channel. */
  add(channel: ChannelName, connectionId: ConnectionId, member: PresenceMember): MaybePromise<PresenceAddResult>;
  /** Removes one connection of a user from a channel. */
  remove(channel: ChannelName, connectionId: ConnectionId, userId: UserId): MaybePromise<PresenceRemoveResult>;
  /** The current members of a channel, one entry per user. */
  members(channel: ChannelName): MaybePromise<PresenceMember[]>;
  /** The number of distinct members of a channel. */
  count(channel: ChannelName): MaybePromise<number>;
}

interface UserEntry {
  member: PresenceMember;
  connections: Set<ConnectionId>;
}

/** Presence kept in this process: exact for one node, and the default. */
export class MemoryPresenceStore implements PresenceStore {
  readonly #channels = new Map<ChannelName, Map<UserId, UserEntry>>();

  add(channel: ChannelName, connectionId: ConnectionId, member: PresenceMember): PresenceAddResult {
    let users = this.#channels.get(channel);
    if (users === undefined) {
      users = new Map();
      this.#channels.set(channel, users);
    }
    const entry = users.get(member.userId);
    if (entry !== undefined) {
      entry.connections.add(connectionId);
      // the newest connection's info wins (a reload may bring fresher info)
      if (member.info !== undefined) entry.member = member;
      return { joined: false, memberCount: users.size };
    }
    users.set(member.userId, { member, connections: new Set([connectionId]) });
    return { joined: true, memberCount: users.size };
  }

  remove(channel: ChannelName, connectionId: ConnectionId, userId: UserId): PresenceRemoveResult {
    const users = this.#channels.get(channel);
    const entry = users?.get(userId);
    if (users === undefined || entry === undefined || !entry.connections.delete(connectionId)) {
      return { left: false, member: undefined };
    }
    if (entry.connections.size > 0) return { left: false, member: entry.member };
    users.delete(userId);
    if (users.size === 0) this.#channels.delete(channel);
    return { left: true, member: entry.member };
  }

  members(channel: ChannelName): PresenceMember[] {
    const users = this.#channels.get(channel);
    if (users === undefined) return [];
    return Array.from(users.values(), (entry) => entry.member);
  }

  count(channel: ChannelName): number {
    return this.#channels.get(channel)?.size ?? 0;
  }

  /** Number of channels with members (diagnostics). */
  get channelCount(): number {
    return this.#channels.size;
  }
}
