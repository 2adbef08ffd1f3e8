import { randomBytes } from 'node:crypto';
import type { ChannelName, SubscriberCountFilter } from '@unisocket/core';

/** What the counts exchange needs from its broker. @internal */
export interface CountsHost {
  /** This node's counts (asked of its Hub now). */
  local(filter: SubscriberCountFilter | undefined): Map<ChannelName, number>;
  /** Publishes on a plain (not sharded) pub/sub channel; resolves with the number of receivers Redis reports. */
  publish(channel: string, payload: string): Promise<number>;
  /** `true` when Redis's answer to PUBLISH counts every receiver in the deployment (not so on a Redis Cluster). */
  readonly exactReceivers: boolean;
  /** A failure the exchange survived. */
  error(error: unknown): void;
}

interface Ask {
  id: string;
  reply: string;
  filter?: SubscriberCountFilter;
}

interface Query {
  counts: Map<ChannelName, number>;
  replies: number;
  expected: number;
  done: () => void;
}

/**
 * Cluster-wide subscriber counts, on demand: the querying node publishes a request on `<prefix>counts:ask` (every
 * node subscribes to it) and every other node answers with its own counts, read from its Hub right then, on the
 * querier's `<prefix>counts:reply:<nodeId>.<random>`. Nothing is stored in Redis and nothing runs on the message path
 * or on subscribe/unsubscribe edges; liveness comes for free — a node that is gone has no subscriber connection, so it
 * neither receives the request nor is counted by PUBLISH's answer (the number of receivers). The query resolves once
 * that many replies arrived, or after `timeoutMs` with what did (a node that hangs, or a Redis Cluster, where PUBLISH
 * reports only the receivers of one shard: there the query always waits out `timeoutMs`). @internal
 */
export class CountsExchange {
  readonly ask: string;
  readonly reply: string;
  readonly #host: CountsHost;
  readonly #queries = new Map<string, Query>();

  constructor(prefix: string, nodeId: string, host: CountsHost) {
    this.ask = `${prefix}counts:ask`;
    this.reply = `${prefix}counts:reply:${nodeId}.${randomBytes(4).toString('hex')}`;
    this.#host = host;
  }

  /** The plain pub/sub channels the subscriber connection must listen on. */
  get channels(): string[] {
    return [this.ask, this.reply];
  }

  /** Handles a message of one of {@link channels}. @returns `false` when it is not one of them */
  handle(channel: string, payload: string): boolean {
    if (channel === this.ask) {
      this.#answer(payload);
      return true;
    }
    if (channel === this.reply) {
      this.#collect(payload);
      return true;
    }
    return false;
  }

  /** Every live node's counts, summed with this node's. */
  async query(filter: SubscriberCountFilter | undefined, timeoutMs: number): Promise<Map<ChannelName, number>> {
    const id = randomBytes(8).toString('hex');
    let timer: NodeJS.Timeout | undefined;
    const query: Query = {
      counts: this.#host.local(filter),
      replies: 0,
      expected: Number.POSITIVE_INFINITY,
      done() {},
    };
    const finished = new Promise<void>((resolve) => {
      query.done = resolve;
      timer = setTimeout(resolve, timeoutMs);
    });
    this.#queries.set(id, query);
    try {
      const ask: Ask = { id, reply: this.reply };
      if (filter !== undefined) ask.filter = filter;
      const receivers = await this.#host.publish(this.ask, JSON.stringify(ask));
      // every receiver but this node answers
      if (this.#host.exactReceivers) query.expected = receivers - 1;
      if (query.replies >= query.expected) query.done();
      await finished;
      return query.counts;
    } finally {
      clearTimeout(timer);
      this.#queries.delete(id);
    }
  }

  #answer(payload: string): void {
    let ask: Ask;
    try {
      ask = JSON.parse(payload) as Ask;
    } catch {
      this.#host.error(new Error('ignored a malformed subscriber-count request'));
      return;
    }
    if (ask.reply === this.reply) return; // this node's own request: it counts itself
    const counts = [...this.#host.local(ask.filter)];
    this.#host.publish(ask.reply, JSON.stringify({ id: ask.id, counts })).catch((error) => this.#host.error(error));
  }

  #collect(payload: string): void {
    let answer: { id: string; counts: [ChannelName, number][] };
    try {
      answer = JSON.parse(payload) as typeof answer;
    } catch {
      this.#host.error(new Error('ignored a malformed subscriber-count reply'));
      return;
    }
    const query = this.#queries.get(answer.id);
    if (query === undefined) return; // too late
    for (const [channel, count] of answer.counts) query.counts.set(channel, (query.counts.get(channel) ?? 0) + count);
    query.replies++;
    if (query.replies >= query.expected) query.done();
  }
}
