import { randomInt } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { retrying } from './connection';

/**
 * Where the identity of each partition's offset sequence — its epoch marker — lives.
 *
 * kafkajs 2.2.4 speaks Metadata v6, which has no topic ids, and Kafka offers no other creation id a client can
 * read. So the markers are kept in Kafka itself, in a place Kafka clears when the topic is deleted: the committed
 * offsets of a consumer group that never consumes, `<topic>.epochs`. The "offset" committed for partition `p` is a
 * random 48-bit number: the marker. Deleting the topic deletes the group's offsets for it, so a recreated topic
 * (whose offsets restart at 0) gets new markers, hence new epochs.
 *
 * Writing is race-free: a writer joins the marker group, and for each partition the group assigned to it in that
 * generation, reads the committed marker and commits a new one only if there is none. Kafka assigns a partition to one
 * member per generation and fences commits by generation, so two nodes starting at once on a fresh topic agree.
 * Reading is one OffsetFetch.
 *
 * Limits: an empty group's offsets expire after the broker's `offsets.retention.minutes` (7 days by default) without a
 * commit. Running nodes re-commit the markers they read ({@link refresh}, every 6 hours), so they only expire when no
 * node ran for that long; then the next node writes new markers and clients' positions from before are answered
 * with `recovered: false` (never with a wrong replay).
 */
export class EpochStore {
  readonly groupId: string;
  readonly #kafka: Kafka;
  readonly #admin: Admin;
  readonly #topic: string;

  constructor(kafka: Kafka, admin: Admin, topic: string) {
    this.#kafka = kafka;
    this.#admin = admin;
    this.#topic = topic;
    this.groupId = `${topic}.epochs`;
  }

  /** The marker of every partition that has one. */
  async read(): Promise<Map<number, string>> {
    const [offsets] = await this.#admin.fetchOffsets({ groupId: this.groupId, topics: [this.#topic] });
    const markers = new Map<number, string>();
    for (const { partition, offset } of offsets?.partitions ?? []) {
      const n = Number(offset);
      if (Number.isSafeInteger(n) && n > 0) markers.set(partition, n.toString(36));
    }
    return markers;
  }

  /**
   * The markers of partitions `0..partitions-1`, writing the missing ones. Rejects when they cannot all be read
   * or written within `timeoutMs`.
   */
  async ensure(partitions: number, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const markers = await retrying(() => this.read(), deadline);
      const missing: number[] = [];
      for (let p = 0; p < partitions; p++) if (!markers.has(p)) missing.push(p);
      if (missing.length === 0) return Array.from({ length: partitions }, (_, p) => markers.get(p)!);
      if (Date.now() > deadline) {
        throw new Error(
          `could not write the epoch markers of ${this.#topic} (partitions ${missing.join(', ')}) within ${timeoutMs} ms`,
        );
      }
      await this.#write(deadline, 'missing').catch((error: unknown) => {
        if (Date.now() > deadline) throw error;
      });
      if (attempt > 0) await new Promise((r) => setTimeout(r, 100 * Math.min(attempt, 10)));
    }
  }

  /** Commits the markers again (same values) so Kafka's offset retention never expires them while nodes start. */
  async refresh(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.#write(deadline, 'all');
  }

  /**
   * Joins the marker group once and, for each partition assigned to this member, commits a new random marker where
   * there is none, and (`all`) the current one again where there is. Commits are fenced by the group generation.
   */
  async #write(deadline: number, which: 'missing' | 'all'): Promise<void> {
    const topic = this.#topic;
    const consumer = this.#kafka.consumer({
      groupId: this.groupId,
      maxWaitTimeInMs: 20,
      allowAutoTopicCreation: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
    });
    let seekIssued = false;
    // kafkajs fetches from each broker on its own, and applies (commits) a seek at the start of the next fetch from
    // the broker that leads the partition: done once every broker's fetcher ran a whole fetch after the seeks
    const fetchers = new Set<number>();
    const startedAfterSeek = new Set<number>();
    const doneAfterSeek = new Set<number>();
    let finish!: () => void;
    let fail!: (error: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    // it may fail while connecting, before it is awaited
    done.catch(() => undefined);
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const assigned = event.payload.memberAssignment[topic] ?? [];
      seekIssued = false;
      startedAfterSeek.clear();
      doneAfterSeek.clear();
      // read what is committed after joining: a commit by another member of an older generation is visible now
      this.read().then(
        (markers) => {
          for (const partition of assigned) {
            const current = markers.get(partition);
            if (current !== undefined && which === 'missing') continue;
            consumer.seek({ topic, partition, offset: String(Number.parseInt(current ?? randomMarker(), 36)) });
          }
          seekIssued = true;
        },
        (error: unknown) => fail(error),
      );
    });
    // seeks are applied (committed) at the start of the next fetch from the partition's leader; FETCH reports that
    // fetch done. With several brokers, one broker's fetch says nothing about the partitions another one leads.
    consumer.on(consumer.events.FETCH_START, ({ payload }) => {
      fetchers.add(payload.nodeId);
      if (seekIssued) startedAfterSeek.add(payload.nodeId);
    });
    consumer.on(consumer.events.FETCH, ({ payload }) => {
      if (!startedAfterSeek.has(payload.nodeId)) return;
      doneAfterSeek.add(payload.nodeId);
      if ([...fetchers].every((nodeId) => doneAfterSeek.has(nodeId))) finish();
    });
    consumer.on(consumer.events.CRASH, (event) => fail(event.payload.error));
    const timer = setTimeout(() => fail(new Error(`epoch marker write timed out`)), Math.max(1, deadline - Date.now()));
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const running = consumer.run({ autoCommit: true, eachBatch: async () => {} });
      consumer.pause([{ topic }]);
      await running;
      await done;
    } finally {
      clearTimeout(timer);
      await consumer.disconnect().catch(() => undefined);
    }
  }
}

/** A random marker: 48 bits, never 0, in base 36. */
function randomMarker(): string {
  return (randomInt(1, 2 ** 47) * 2 + 1).toString(36);
}
