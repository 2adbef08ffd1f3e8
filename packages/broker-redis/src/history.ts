import type { ChannelName, HistoryRead, HistoryStore, StreamMessage, StreamPosition } from '@unisocket/core';
import { type CommandClient, newEpoch } from './connection';
import type { KeySpace } from './keys';

/** Settings of {@link RedisHistoryStore}. @internal */
export interface RedisHistorySettings {
  size: number;
  ttlMs: number;
  channelTtlMs: number;
  /** On a Redis Cluster: start a new epoch when a channel's master changed (see the scripts' `ensureMeta`). */
  failoverGuard: boolean;
}

/**
 * Channel history in Redis Streams, one stream per channel (`P{channel}:s`), written by the broker's publish
 * script atomically with the offset. The epoch lives in Redis too (`P{channel}:m`), so it survives node
 * restarts and changes only when the channel's keys are gone (FLUSHALL, a Redis restart without persistence,
 * or `channelTtlMs` without activity).
 */
export class RedisHistoryStore implements HistoryStore {
  readonly #client: () => CommandClient;
  readonly #keys: KeySpace;
  readonly #settings: RedisHistorySettings;
  readonly #now: () => number;

  /** @internal */
  constructor(
    client: () => CommandClient,
    keys: KeySpace,
    settings: RedisHistorySettings,
    now: () => number = Date.now,
  ) {
    this.#client = client;
    this.#keys = keys;
    this.#settings = settings;
    this.#now = now;
  }

  /** Messages kept per channel, and for how long. */
  get options(): Readonly<{ size: number; ttlMs: number }> {
    return { size: this.#settings.size, ttlMs: this.#settings.ttlMs };
  }

  async position(channel: ChannelName): Promise<StreamPosition> {
    const [epoch, offset] = await this.#client().unisocketPosition(
      this.#keys.meta(channel),
      this.#keys.stream(channel),
      newEpoch(),
      this.#settings.channelTtlMs,
      this.#settings.failoverGuard ? 1 : 0,
    );
    return { epoch, offset: Number(offset) };
  }

  async read(channel: ChannelName, after: StreamPosition, limit = Infinity): Promise<HistoryRead> {
    const count = Number.isFinite(limit) ? Math.max(1, Math.floor(limit)) : 0;
    const reply = await this.#client().unisocketRead(
      this.#keys.meta(channel),
      this.#keys.stream(channel),
      newEpoch(),
      this.#settings.channelTtlMs,
      after.epoch,
      after.offset,
      count,
      this.#settings.failoverGuard ? 1 : 0,
    );
    const epoch = String(reply[0]);
    const top = Number(reply[1]);
    const position = { epoch, offset: top };
    if (after.epoch !== epoch || after.offset > top) return { position, messages: [], complete: false };
    const cutoff = this.#now() - this.#settings.ttlMs;
    const messages: StreamMessage[] = [];
    let expired = false;
    for (let i = 2; i + 3 < reply.length; i += 4) {
      const streamId = String(reply[i]);
      const ts = Number(reply[i + 2]);
      // entries past the TTL that no publish has trimmed yet are gone all the same
      if (messages.length === 0 && ts <= cutoff) {
        expired = true;
        continue;
      }
      messages.push({
        channel,
        epoch,
        offset: Number(streamId.slice(0, streamId.indexOf('-'))),
        id: String(reply[i + 1]),
        ts,
        line: String(reply[i + 3]),
      });
    }
    const complete = !expired && (after.offset === top || messages[0]?.offset === after.offset + 1);
    return { position, messages, complete };
  }
}
