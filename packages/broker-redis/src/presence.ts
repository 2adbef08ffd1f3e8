import { randomBytes } from 'node:crypto';
import type {
  ChannelName,
  ConnectionId,
  PresenceAddResult,
  PresenceMember,
  PresenceRemoveResult,
  PresenceStore,
  UserId,
} from '@unisocket/core';
import type { CommandClient } from './connection';
import type { KeySpace } from './keys';

/** What the presence store tells its broker. @internal */
export interface PresenceHost {
  /** A presence change nobody on this node asked for: a dead node's member left, or a restored member is back. */
  announce(channel: ChannelName, action: 'join' | 'leave', member: PresenceMember): void;
  /** A failure the store survived. */
  error(error: unknown): void;
}

interface LocalEntry {
  channel: ChannelName;
  connectionId: ConnectionId;
  userId: UserId;
  memberJson: string;
  hasInfo: boolean;
}

/**
 * Cluster-wide presence in Redis. Entries are per (owner, connection, user), where the owner is this node's current
 * incarnation (`<nodeId>.<random>`); per channel, users are counted over all their connections on all nodes, so
 * `joined`/`left` mean the first/last connection of the user anywhere in the cluster.
 *
 * Every node refreshes a lease (`P lease:<owner>`, expiring after `leaseMs`) and, on the same timer, sweeps the
 * owners whose lease expired: their entries are removed one by one with the same atomic script as a normal
 * leave, so a user with no connection left anywhere leaves exactly once even when several nodes sweep at once.
 * A node that finds its own lease gone (it was cut off longer than `leaseMs`, or Redis lost its data) takes a new
 * owner id and re-adds its live entries, announcing `join` for the users that had been swept.
 */
export class RedisPresenceStore implements PresenceStore {
  readonly #client: () => CommandClient;
  readonly #keys: KeySpace;
  readonly #nodeId: string;
  readonly #host: PresenceHost;
  readonly #leaseMs: number;
  readonly #local = new Map<string, LocalEntry>();
  readonly #pending = new Set<Promise<unknown>>();
  /** Removals that failed (Redis away): retried on every refresh, so no ghost member outlives an outage. */
  readonly #failedRemovals = new Map<
    string,
    { channel: ChannelName; connectionId: ConnectionId; owner: string; announce: boolean }
  >();
  #owner: string;
  #registered = false;
  #refreshing = false;

  /** @internal */
  constructor(client: () => CommandClient, keys: KeySpace, nodeId: string, leaseMs: number, host: PresenceHost) {
    this.#client = client;
    this.#keys = keys;
    this.#nodeId = nodeId;
    this.#leaseMs = leaseMs;
    this.#host = host;
    this.#owner = newOwner(nodeId);
  }

  /** This node's current presence owner id (`<nodeId>.<random>`). */
  get owner(): string {
    return this.#owner;
  }

  /** Presence entries of this node's connections. */
  get localEntries(): number {
    return this.#local.size;
  }

  add(channel: ChannelName, connectionId: ConnectionId, member: PresenceMember): Promise<PresenceAddResult> {
    const entry: LocalEntry = {
      channel,
      connectionId,
      userId: member.userId,
      memberJson: JSON.stringify(member),
      hasInfo: member.info !== undefined,
    };
    const key = localKey(channel, connectionId);
    this.#local.set(key, entry);
    this.#failedRemovals.delete(key);
    const added = this.#add(entry, this.#owner).then(
      ([joined, memberCount]) => ({ joined: joined === 1, memberCount }),
      (error: unknown) => {
        // not joined: a later restore must not bring it back (whatever did reach Redis is swept or removed later)
        if (this.#local.get(key) === entry) {
          this.#local.delete(key);
          // it may have reached Redis: remove it later, silently (its join was never announced)
          this.#failedRemovals.set(key, { channel, connectionId, owner: this.#owner, announce: false });
        }
        throw error;
      },
    );
    return this.#track(added);
  }

  remove(channel: ChannelName, connectionId: ConnectionId, _userId: UserId): Promise<PresenceRemoveResult> {
    const key = localKey(channel, connectionId);
    const entry = this.#local.get(key);
    this.#local.delete(key);
    const owner = this.#owner;
    const removal = this.#removeOwn(channel, connectionId, owner).catch((error: unknown) => {
      // Redis is away: retried on every refresh until it is gone (its leave is announced then)
      if (entry !== undefined && !this.#local.has(key))
        this.#failedRemovals.set(key, { channel, connectionId, owner, announce: true });
      throw error;
    });
    return this.#track(removal);
  }

  async members(channel: ChannelName): Promise<PresenceMember[]> {
    const values = await this.#client().hvals(this.#keys.presenceMembers(channel));
    return values.map((json) => JSON.parse(json) as PresenceMember);
  }

  async count(channel: ChannelName): Promise<number> {
    return this.#client().hlen(this.#keys.presenceUsers(channel));
  }

  // ------------------------------------------------------------------------------------------------
  // leases (driven by the broker's timer)
  // ------------------------------------------------------------------------------------------------

  /**
   * Refreshes this node's lease (restoring its entries under a new owner when the lease was lost), then sweeps the
   * owners whose lease expired. Never throws; failures go to the host. @internal
   */
  async refresh(): Promise<void> {
    if (this.#refreshing) return;
    this.#refreshing = true;
    try {
      await this.#refreshLease();
      await this.#retryRemovals();
      await this.sweep();
    } catch (error) {
      this.#host.error(error);
    } finally {
      this.#refreshing = false;
    }
  }

  /** Removes the entries of every owner whose lease expired. @returns how many users left @internal */
  async sweep(): Promise<number> {
    const client = this.#client();
    const owners = await client.smembers(this.#keys.nodes);
    let left = 0;
    for (const owner of owners) {
      if (owner === this.#owner) continue;
      if ((await client.exists(this.#keys.lease(owner))) === 1) continue;
      left += await this.#sweepOwner(owner);
    }
    return left;
  }

  /** Waits for presence changes in flight (before the broker closes). @internal */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** Gives up this node's lease so other nodes sweep what is left at once. @internal */
  async release(): Promise<void> {
    if (!this.#registered) return;
    await this.#client().del(this.#keys.lease(this.#owner));
  }

  async #refreshLease(): Promise<void> {
    const client = this.#client();
    const lease = this.#keys.lease(this.#owner);
    if (!this.#registered) {
      if (this.#local.size === 0) return; // nothing to protect yet
      await client.set(lease, this.#nodeId, 'PX', this.#leaseMs);
      await client.sadd(this.#keys.nodes, this.#owner);
      this.#registered = true;
      return;
    }
    const kept = await client.set(lease, this.#nodeId, 'PX', this.#leaseMs, 'XX');
    if (kept === 'OK') {
      await client.sadd(this.#keys.nodes, this.#owner);
      return;
    }
    // the lease is gone: other nodes may have swept this node's entries. Start over as a new owner so a sweep of
    // the old one still running cannot remove what is restored now.
    this.#owner = newOwner(this.#nodeId);
    await client.set(this.#keys.lease(this.#owner), this.#nodeId, 'PX', this.#leaseMs);
    await client.sadd(this.#keys.nodes, this.#owner);
    for (const entry of [...this.#local.values()]) {
      const [joined] = await this.#add(entry, this.#owner);
      if (joined === 1 && this.#local.get(localKey(entry.channel, entry.connectionId)) === entry) {
        this.#host.announce(entry.channel, 'join', JSON.parse(entry.memberJson) as PresenceMember);
      }
    }
  }

  async #retryRemovals(): Promise<void> {
    for (const [key, failed] of [...this.#failedRemovals]) {
      const result = await this.#removeOwn(failed.channel, failed.connectionId, failed.owner);
      if (this.#failedRemovals.get(key) !== failed) continue;
      this.#failedRemovals.delete(key);
      if (failed.announce && result.left && result.member !== undefined) {
        this.#host.announce(failed.channel, 'leave', result.member);
      }
    }
  }

  /** Removes one of this node's entries (any owner may hold it now) and its index entry. */
  async #removeOwn(channel: ChannelName, connectionId: ConnectionId, owner: string): Promise<PresenceRemoveResult> {
    const result = await this.#remove(channel, connectionId, '');
    await this.#client().srem(this.#keys.ownerEntries(owner), indexEntry(channel, connectionId));
    if (owner !== this.#owner)
      await this.#client().srem(this.#keys.ownerEntries(this.#owner), indexEntry(channel, connectionId));
    return result;
  }

  async #sweepOwner(owner: string): Promise<number> {
    const client = this.#client();
    const index = this.#keys.ownerEntries(owner);
    let left = 0;
    for (const item of await client.smembers(index)) {
      const space = item.indexOf(' ');
      const channel = item.slice(0, space);
      const connectionId = item.slice(space + 1);
      const result = await this.#remove(channel, connectionId, owner);
      if (result.left && result.member !== undefined) {
        left++;
        this.#host.announce(channel, 'leave', result.member);
      }
      await client.srem(index, item);
    }
    if ((await client.scard(index)) === 0) await client.srem(this.#keys.nodes, owner);
    return left;
  }

  async #add(entry: LocalEntry, owner: string): Promise<[number, number]> {
    const client = this.#client();
    if (!this.#registered) {
      // register before the first entry exists, so a crash right after it still gets swept
      await client.set(this.#keys.lease(owner), this.#nodeId, 'PX', this.#leaseMs);
      await client.sadd(this.#keys.nodes, owner);
      this.#registered = true;
    }
    // the index first: an entry that exists is always findable by a sweep
    await client.sadd(this.#keys.ownerEntries(owner), indexEntry(entry.channel, entry.connectionId));
    return client.unisocketPresenceAdd(
      this.#keys.presenceEntries(entry.channel),
      this.#keys.presenceUsers(entry.channel),
      this.#keys.presenceMembers(entry.channel),
      entry.connectionId,
      entry.userId,
      entry.memberJson,
      owner,
      entry.hasInfo ? 1 : 0,
    );
  }

  async #remove(channel: ChannelName, connectionId: ConnectionId, owner: string): Promise<PresenceRemoveResult> {
    const [left, json] = await this.#client().unisocketPresenceRemove(
      this.#keys.presenceEntries(channel),
      this.#keys.presenceUsers(channel),
      this.#keys.presenceMembers(channel),
      connectionId,
      owner,
    );
    const member = typeof json === 'string' ? (JSON.parse(json) as PresenceMember) : undefined;
    return { left: left === 1, member };
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    const done = (): void => {
      this.#pending.delete(promise);
    };
    promise.then(done, done);
    return promise;
  }
}

function newOwner(nodeId: string): string {
  return `${nodeId}.${randomBytes(4).toString('hex')}`;
}

function localKey(channel: ChannelName, connectionId: ConnectionId): string {
  return `${channel} ${connectionId}`;
}

function indexEntry(channel: ChannelName, connectionId: ConnectionId): string {
  return `${channel} ${connectionId}`;
}
