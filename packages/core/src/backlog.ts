import type { ChannelPolicy } from './backpressure';
import type { PreparedBatch } from './prepared-batch';
import type { ChannelName } from './protocol/types';

interface LatestLine {
  line: string;
  bytes: number;
}

/**
 * What waits for one backed-up connection: `drop-oldest` batches in arrival order and the newest `coalesce-latest`
 * line per key. Exists only while the connection is backed up. @internal
 */
export class Backlog {
  /** `drop-oldest` batches, oldest first. */
  readonly queue: PreparedBatch[] = [];
  queueBytes = 0;
  /** `coalesce-latest` lines per channel, by key, in the order they were last replaced (so in offset order). */
  readonly latest = new Map<ChannelName, Map<string | number, LatestLine>>();
  latestBytes = 0;
  #unique = 0;

  get bytes(): number {
    return this.queueBytes + this.latestBytes;
  }

  get empty(): boolean {
    return this.queue.length === 0 && this.latest.size === 0;
  }

  /** Queues a `drop-oldest` batch. */
  push(batch: PreparedBatch): void {
    this.queue.push(batch);
    this.queueBytes += batch.byteLength;
  }

  /** Drops the oldest queued batch. @returns the number of message lines dropped */
  dropOldest(): number {
    const batch = this.queue.shift();
    if (batch === undefined) return 0;
    this.queueBytes -= batch.byteLength;
    return batch.count;
  }

  /** Takes the oldest queued batch to write it. */
  shift(): PreparedBatch | undefined {
    const batch = this.queue.shift();
    if (batch !== undefined) this.queueBytes -= batch.byteLength;
    return batch;
  }

  /** Keeps the newest line per key of a `coalesce-latest` batch. @returns the number of older lines replaced */
  coalesce(batch: PreparedBatch, policy: ChannelPolicy): number {
    const keys = (batch.keys ??= batch.lines.map(policy.keyOf!));
    const sizes = (batch.lineBytes ??= batch.lines.map((line) => Buffer.byteLength(line)));
    let map = this.latest.get(batch.channel);
    if (map === undefined) this.latest.set(batch.channel, (map = new Map()));
    let replaced = 0;
    for (let i = 0; i < batch.lines.length; i++) {
      // lines without a key (presence events, resyncs) are never coalesced: they get a key of their own
      const key = keys[i] ?? --this.#unique;
      const previous = map.get(key);
      if (previous !== undefined) {
        map.delete(key);
        this.latestBytes -= previous.bytes;
        replaced++;
      }
      const bytes = sizes[i]!;
      map.set(key, { line: batch.lines[i]!, bytes });
      this.latestBytes += bytes;
    }
    return replaced;
  }

  /** Takes up to `max` kept lines of one `coalesce-latest` channel, oldest first, to write them. */
  takeLatest(max: number): { channel: ChannelName; lines: string[] } | undefined {
    const first = this.latest.entries().next();
    if (first.done === true) return undefined;
    const [channel, map] = first.value;
    const lines: string[] = [];
    for (const [key, entry] of map) {
      if (lines.length === max) break;
      lines.push(entry.line);
      this.latestBytes -= entry.bytes;
      map.delete(key);
    }
    if (map.size === 0) this.latest.delete(channel);
    return { channel, lines };
  }

  /** Forgets everything held for a channel (unsubscribed, or its stream restarted). */
  purge(channel: ChannelName): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const batch = this.queue[i]!;
      if (batch.channel !== channel) continue;
      this.queue.splice(i, 1);
      this.queueBytes -= batch.byteLength;
    }
    const map = this.latest.get(channel);
    if (map === undefined) return;
    for (const entry of map.values()) this.latestBytes -= entry.bytes;
    this.latest.delete(channel);
  }
}
