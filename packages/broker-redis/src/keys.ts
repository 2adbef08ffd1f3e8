import type { ChannelName } from '@unisocket/core';

/**
 * The Redis key layout. Every key of one channel carries the hash tag `{<channel>}` so they share a Redis Cluster
 * slot (the Lua scripts touch several of them atomically), and so does the channel's pub/sub channel (sharded
 * pub/sub then stays on that shard). Channel names cannot contain braces, so the tag is unambiguous.
 *
 * | key | type | what |
 * |---|---|---|
 * | `P{c}` | pub/sub channel | messages and presence events of channel `c` |
 * | `P{c}:m` | hash | `e` epoch, `o` last offset |
 * | `P{c}:s` | stream | history: entry id `<offset>-0`, fields `i` id, `t` ts, `l` line |
 * | `P{c}:i:<id>` | string | idempotency key: `<epoch> <offset>` of the original publish |
 * | `P{c}:pe` | hash | presence entries: connection id → `<owner> <userId>` |
 * | `P{c}:pu` | hash | presence: userId → number of connections |
 * | `P{c}:pm` | hash | presence: userId → member JSON |
 * | `Pnodes` | set | owners (node incarnations) that hold presence entries |
 * | `Please:<owner>` | string | an owner's lease (expires unless refreshed) |
 * | `Powner:<owner>` | set | an owner's presence entries: `<channel> <connectionId>` |
 *
 * (`P` is the key prefix.)
 */
export class KeySpace {
  readonly #prefix: string;
  readonly #channelStart: number;

  constructor(readonly prefix: string) {
    this.#prefix = `${prefix}{`;
    this.#channelStart = this.#prefix.length;
  }

  /** The pub/sub channel of a channel. */
  pubsub(channel: ChannelName): string {
    return `${this.#prefix}${channel}}`;
  }

  /** The channel of a pub/sub channel name (the inverse of {@link pubsub}). */
  channelOf(pubsubChannel: string): ChannelName {
    return pubsubChannel.slice(this.#channelStart, -1);
  }

  meta(channel: ChannelName): string {
    return `${this.#prefix}${channel}}:m`;
  }

  stream(channel: ChannelName): string {
    return `${this.#prefix}${channel}}:s`;
  }

  idempotency(channel: ChannelName, id: string): string {
    return `${this.#prefix}${channel}}:i:${id}`;
  }

  presenceEntries(channel: ChannelName): string {
    return `${this.#prefix}${channel}}:pe`;
  }

  presenceUsers(channel: ChannelName): string {
    return `${this.#prefix}${channel}}:pu`;
  }

  presenceMembers(channel: ChannelName): string {
    return `${this.#prefix}${channel}}:pm`;
  }

  get nodes(): string {
    return `${this.prefix}nodes`;
  }

  lease(owner: string): string {
    return `${this.prefix}lease:${owner}`;
  }

  ownerEntries(owner: string): string {
    return `${this.prefix}owner:${owner}`;
  }
}
