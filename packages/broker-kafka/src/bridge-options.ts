import type { ChannelName, ClientPublish, Hub } from '@unisocket/core';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import type { KafkaConnectionOptions } from './connection';

/*
 * The public shapes of the Kafka bridge: its options, the records route functions see, its counters, events and
 * errors. How the options are checked and compiled is in bridge-config.ts.
 */

/** A record of a bridged topic, decoded, as route and event functions see it. */
export interface BridgeRecord {
  readonly topic: string;
  readonly partition: number;
  /** The Kafka offset (a string, as kafkajs gives it). */
  readonly offset: string;
  /** The key, decoded by `decodeKey` (UTF-8 text by default); `null` when the record has none. */
  readonly key: string | null;
  /** Header values as UTF-8 text (the first value of a repeated header). */
  readonly headers: Readonly<Record<string, string>>;
  /** The value, decoded by `decode` (JSON by default). */
  readonly value: unknown;
  /** The record's timestamp, epoch ms. */
  readonly timestamp: number;
}

/** One inbound route: records of `topic` become messages of `channel`. */
export interface BridgeRoute {
  /** A topic name, or a RegExp matched against the topics that exist when the bridge starts. */
  topic: string | RegExp;
  /** The channel, or a function choosing it per record (return `null`/`undefined` to skip the record). */
  channel: ChannelName | ((record: BridgeRecord) => ChannelName | null | undefined);
  /** The event name, or a function choosing it per record. Defaults to the bridge's `event` option. */
  event?: string | ((record: BridgeRecord) => string);
}

/** How a record value becomes the message `data`. */
export type BridgeDecoder = 'json' | 'text' | ((value: Buffer | null, record: KafkaMessage, topic: string) => unknown);

/** One forwarding rule: client publishes on matching channels are produced to `topic`. */
export interface ForwardRule {
  /**
   * Which channels: a pattern where `*` matches any run of channel characters (`chat.*`), several of them, a RegExp,
   * or a predicate.
   */
  channels: string | string[] | RegExp | ((channel: ChannelName) => boolean);
  /** The topic, or a function choosing it per publish. */
  topic: string | ((publish: ClientPublish) => string);
  /** The record key. @default the channel */
  key?: (publish: ClientPublish) => string | null;
  /**
   * The record value. @default JSON `{ channel, event, data, id, offset, userId, connectionId, ts }`
   */
  value?: (publish: ClientPublish) => string | Buffer;
  /** Extra record headers. */
  headers?: (publish: ClientPublish) => IHeaders;
}

/** Options of {@link KafkaBridge}. */
export interface KafkaBridgeOptions extends KafkaConnectionOptions {
  /**
   * Kafka topics streamed into channels: a table `{ topic: channel }`, or routes. Every node running the bridge joins
   * one consumer group (`groupId`), so each record is consumed — and broadcast — by one node, reaching the channel's
   * subscribers on every node through the broker.
   */
  topics?: Record<string, ChannelName> | BridgeRoute[];
  /**
   * The consumer group shared by the whole cluster (one per bridge purpose).
   * @default 'unisocket.bridge'
   */
  groupId?: string;
  /**
   * Where a new group starts: `false` streams only records produced from now on.
   * @default false
   */
  fromBeginning?: boolean;
  /**
   * How a record value becomes the message data: `json` (parse UTF-8 JSON), `text` (the UTF-8 string), or a
   * function. A record that does not decode is skipped and reported (`error` event, `stats.undecodable`).
   * @default 'json'
   */
  decode?: BridgeDecoder;
  /**
   * How a record key becomes `record.key`.
   * @default 'text'
   */
  decodeKey?: 'text' | ((key: Buffer | null) => string | null);
  /**
   * The event of bridged messages when the route sets none: a name, or a function. The default takes the record's
   * `event` header when present, `message` otherwise.
   */
  event?: string | ((record: BridgeRecord) => string);
  /**
   * Records with a value larger than this are skipped and reported, in bytes.
   * @default 1_048_576
   */
  maxValueBytes?: number;
  /** Client publishes forwarded to Kafka topics (for backend processing). */
  forward?: ForwardRule[];
  /**
   * Create the bridged topics (named ones, inbound and forward) when missing, with this many partitions and this
   * replication factor (`-1`: the Kafka broker's default). Off by default: topics are usually provisioned.
   * @default false
   */
  createTopics?: boolean | { partitions?: number; replicationFactor?: number };
  /**
   * Forwarded records waiting for Kafka; past it forwards are dropped and counted.
   * @default 10_000
   */
  maxQueuedForwards?: number;
  /**
   * How long a forwarded record may wait for Kafka before it is dropped, in ms.
   * @default 10_000
   */
  forwardTimeoutMs?: number;
}

/** Counters of a bridge. */
export interface BridgeStats {
  /** Records consumed from bridged topics. */
  received: number;
  /** Records broadcast to a channel. */
  broadcast: number;
  /** Records whose value (or key) did not decode: skipped. */
  undecodable: number;
  /** Records no route gave a valid channel and event for, or too large: skipped. */
  skipped: number;
  /** Records the broker refused for good (e.g. data it cannot publish): skipped. */
  failed: number;
  /** Client publishes produced to Kafka. */
  forwarded: number;
  /** Client publishes that could not be forwarded (queue full, Kafka away too long, refused). */
  forwardFailed: number;
}

/** A problem the bridge handled: which kind, and the record or publish concerned. */
export class KafkaBridgeError extends Error {
  constructor(
    message: string,
    readonly kind: 'decode' | 'route' | 'publish' | 'forward' | 'consumer',
    readonly detail: { topic?: string; partition?: number; offset?: string; channel?: ChannelName } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KafkaBridgeError';
  }
}

/** Events of a bridge. */
export interface KafkaBridgeEvents {
  /** A record skipped, a forward dropped, the consumer restarting: the bridge goes on. */
  error: [error: KafkaBridgeError];
}

/** What a bridge publishes into and listens to: a Hub, or a service exposing one (`service.hub`). */
export type BridgeTarget = Hub | { readonly hub: Hub };
