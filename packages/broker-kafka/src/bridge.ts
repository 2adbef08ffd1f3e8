import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  BROADCAST_CHANNEL,
  type ChannelName,
  type ClientPublish,
  ErrorCode,
  Hub,
  type MaybePromise,
  type PublishAck,
  checkChannelName,
  checkEventName,
  isPromiseLike,
  isUnisocketError,
  isValidChannelName,
  isValidEventName,
} from '@unisocket/core';
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { CONSUMER_RESILIENCE, type KafkaConnectionOptions, createKafkaClient, describeError } from './connection';
import { ProduceBatcher } from './producer';

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

const DEFAULTS = {
  groupId: 'unisocket.bridge',
  fromBeginning: false,
  maxValueBytes: 1_048_576,
  maxQueuedForwards: 10_000,
  forwardTimeoutMs: 10_000,
};

interface CompiledRoute {
  topic: string | RegExp;
  channel: BridgeRoute['channel'];
  event: BridgeRoute['event'];
}

interface CompiledRule {
  matches: (channel: ChannelName) => boolean;
  rule: ForwardRule;
}

/**
 * The bridge between Kafka topics and channels (producer/consumer management, as Kafka messaging libraries have it):
 * - **topics → channels**: consumes the configured topics in one consumer group shared by every node, decodes each
 *   record (JSON by default), routes it to a channel and broadcasts it once — from the node that consumed it — to
 *   every subscriber in the cluster. Offsets are committed after the broadcast was accepted (at-least-once); the
 *   message id is derived from the record's topic, partition and offset, so a record consumed again after a
 *   rebalance is dropped by the broker's idempotency window instead of being delivered twice;
 * - **client publishes → topics**: forwards accepted client publishes on matching channels to Kafka topics, through
 *   an idempotent producer with a bounded queue.
 */
export class KafkaBridge extends EventEmitter<KafkaBridgeEvents> {
  readonly stats: BridgeStats = {
    received: 0,
    broadcast: 0,
    undecodable: 0,
    skipped: 0,
    failed: 0,
    forwarded: 0,
    forwardFailed: 0,
  };
  readonly groupId: string;
  readonly #target: BridgeTarget;
  readonly #kafka: Kafka;
  readonly #settings: typeof DEFAULTS;
  readonly #routes: CompiledRoute[];
  readonly #rules: CompiledRule[];
  readonly #decode: (value: Buffer | null, record: KafkaMessage, topic: string) => unknown;
  readonly #decodeKey: (key: Buffer | null) => string | null;
  readonly #event: (record: BridgeRecord) => string;
  readonly #createTopics: { partitions: number; replicationFactor: number } | undefined;
  #hub: Hub | undefined;
  #consumer: Consumer | undefined;
  #producer: Producer | undefined;
  #batcher: ProduceBatcher | undefined;
  #started: Promise<void> | undefined;
  #stopped = false;
  #lastForwardError = 0;

  constructor(target: BridgeTarget, options: KafkaBridgeOptions) {
    super();
    if (target === null || typeof target !== 'object' || !(target instanceof Hub || 'hub' in target)) {
      throw new TypeError('KafkaBridge: target must be a Hub or a service with a hub (createUnifiedWebSocketService)');
    }
    if (typeof options !== 'object' || options === null) throw new TypeError('KafkaBridge: options must be an object');
    this.#target = target;
    const settings = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
      const value = options[key];
      if (value !== undefined) (settings as Record<string, unknown>)[key] = value;
    }
    if (typeof settings.groupId !== 'string' || settings.groupId.length === 0)
      throw new TypeError('KafkaBridge: groupId must be a non-empty string');
    if (typeof settings.fromBeginning !== 'boolean')
      throw new TypeError('KafkaBridge: fromBeginning must be a boolean');
    for (const key of ['maxValueBytes', 'maxQueuedForwards', 'forwardTimeoutMs'] as const) {
      if (!Number.isInteger(settings[key]) || settings[key] < 1) {
        throw new TypeError(`KafkaBridge: ${key} must be a positive integer, got ${String(settings[key])}`);
      }
    }
    this.#settings = settings;
    this.groupId = settings.groupId;
    this.#routes = compileRoutes(options.topics);
    this.#rules = compileRules(options.forward);
    if (this.#routes.length === 0 && this.#rules.length === 0) {
      throw new TypeError(
        'KafkaBridge: nothing to bridge: give topics (Kafka → channels) and/or forward (client publishes → Kafka)',
      );
    }
    this.#decode = compileDecoder(options.decode ?? 'json');
    this.#decodeKey = compileKeyDecoder(options.decodeKey ?? 'text');
    this.#event = compileEvent(options.event);
    this.#kafka = createKafkaClient(options, 'KafkaBridge');
    const create = options.createTopics ?? false;
    if (create === false) this.#createTopics = undefined;
    else {
      const { partitions = 3, replicationFactor = -1 } = create === true ? {} : create;
      if (!Number.isInteger(partitions) || partitions < 1)
        throw new TypeError('KafkaBridge: createTopics.partitions must be a positive integer');
      if (!Number.isInteger(replicationFactor) || (replicationFactor < 1 && replicationFactor !== -1)) {
        throw new TypeError('KafkaBridge: createTopics.replicationFactor must be a positive integer or -1');
      }
      this.#createTopics = { partitions, replicationFactor };
    }
  }

  /** The kafkajs client (its producers and consumers are the bridge's). */
  get kafka(): Kafka {
    return this.#kafka;
  }

  /** Connects and starts bridging. Resolves once the consumer joined its group and the producer is connected. */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const target = this.#target;
    const hub = target instanceof Hub ? target : target.hub;
    this.#hub = hub;
    try {
      if (this.#createTopics !== undefined) await this.#createMissingTopics(this.#createTopics);
      if (this.#rules.length > 0) {
        const producer = this.#kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
          retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1_000 },
        });
        this.#producer = producer;
        await producer.connect();
        this.#batcher = new ProduceBatcher(producer, {
          maxBatchMessages: 500,
          maxBatchBytes: 524_288,
          maxQueued: this.#settings.maxQueuedForwards,
          queueTimeoutMs: this.#settings.forwardTimeoutMs,
          resendDelayMs: 250,
          what: 'forwarded publish',
        });
        hub.on('clientPublish', this.#onClientPublish);
      }
      if (this.#routes.length > 0) await this.#startConsumer();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Stops bridging: leaves the group (its partitions move to the other nodes), sends what is queued. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#hub?.off('clientPublish', this.#onClientPublish);
    // quick when Kafka answers; bounded when it does not
    await withTimeout(
      this.#consumer?.disconnect().catch(() => undefined),
      5_000,
    );
    await this.#batcher?.close(5_000);
    await withTimeout(
      this.#producer?.disconnect().catch(() => undefined),
      5_000,
    );
  }

  async #createMissingTopics({
    partitions,
    replicationFactor,
  }: {
    partitions: number;
    replicationFactor: number;
  }): Promise<void> {
    const names = new Set<string>();
    for (const route of this.#routes) if (typeof route.topic === 'string') names.add(route.topic);
    for (const { rule } of this.#rules) if (typeof rule.topic === 'string') names.add(rule.topic);
    if (names.size === 0) return;
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = [...names].filter((t) => !existing.has(t));
      if (missing.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })),
        });
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Kafka → channels
  // ------------------------------------------------------------------------------------------------

  async #startConsumer(): Promise<void> {
    const consumer = this.#kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 250,
      ...CONSUMER_RESILIENCE,
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.CRASH, (event) => {
      this.#emitError(
        new KafkaBridgeError(
          `the bridge consumer stopped${event.payload.restart ? ' (restarting)' : ''}: ${describeError(event.payload.error)}`,
          'consumer',
          {},
          { cause: event.payload.error },
        ),
      );
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.#routes.map((r) => r.topic), fromBeginning: this.#settings.fromBeginning });
    let joined!: () => void;
    const firstJoin = new Promise<void>((resolve) => (joined = resolve));
    consumer.on(consumer.events.GROUP_JOIN, () => joined());
    await consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.#onBatch(payload),
    });
    await firstJoin;
  }

  readonly #onBatch = async ({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> => {
    const hub = this.#hub!;
    const topic = batch.topic;
    const pending: { offset: string; result: MaybePromise<PublishAck> | undefined }[] = [];
    for (const record of batch.messages) {
      if (!isRunning() || isStale()) break;
      this.stats.received++;
      const result = this.#broadcast(hub, topic, batch.partition, record);
      // awaited below, in order; until then a refusal must not count as unhandled
      if (isPromiseLike(result)) result.then(undefined, () => undefined);
      pending.push({ offset: record.offset, result });
    }
    // offsets are committed in order up to the first broadcast the broker could not take now; kafkajs then
    // fetches the rest again (their ids make any repeat a no-op)
    for (const { offset, result } of pending) {
      if (result !== undefined) {
        try {
          await result;
          this.stats.broadcast++;
        } catch (error) {
          if (isUnisocketError(error) && error.code === ErrorCode.UNAVAILABLE) {
            throw new KafkaBridgeError(
              `the broker cannot take bridged records now: ${error.message}`,
              'publish',
              { topic, partition: batch.partition, offset },
              { cause: error },
            );
          }
          this.stats.failed++;
          this.#emitError(
            new KafkaBridgeError(
              `a bridged record could not be published: ${describeError(error)}`,
              'publish',
              { topic, partition: batch.partition, offset },
              { cause: error },
            ),
          );
        }
      }
      resolveOffset(offset);
    }
    await heartbeat();
  };

  /** Decodes, routes and publishes one record; `undefined` when it was skipped (and reported). */
  #broadcast(hub: Hub, topic: string, partition: number, message: KafkaMessage): MaybePromise<PublishAck> | undefined {
    const where = { topic, partition, offset: message.offset };
    const size = message.value?.length ?? 0;
    if (size > this.#settings.maxValueBytes) {
      this.stats.skipped++;
      this.#emitError(
        new KafkaBridgeError(
          `record of ${size} bytes is over maxValueBytes (${this.#settings.maxValueBytes})`,
          'route',
          where,
        ),
      );
      return undefined;
    }
    let record: BridgeRecord;
    try {
      record = {
        topic,
        partition,
        offset: message.offset,
        key: this.#decodeKey(message.key),
        headers: decodeHeaders(message.headers),
        value: this.#decode(message.value, message, topic),
        timestamp: Number(message.timestamp),
      };
    } catch (error) {
      this.stats.undecodable++;
      this.#emitError(
        new KafkaBridgeError(`record does not decode: ${describeError(error)}`, 'decode', where, { cause: error }),
      );
      return undefined;
    }
    let channel: ChannelName | null | undefined;
    let event: string;
    try {
      const route = this.#routes.find((r) => (typeof r.topic === 'string' ? r.topic === topic : r.topic.test(topic)));
      channel =
        route === undefined ? undefined : typeof route.channel === 'function' ? route.channel(record) : route.channel;
      const routeEvent = route?.event;
      event =
        routeEvent === undefined
          ? this.#event(record)
          : typeof routeEvent === 'function'
            ? routeEvent(record)
            : routeEvent;
    } catch (error) {
      this.stats.skipped++;
      this.#emitError(
        new KafkaBridgeError(`routing the record failed: ${describeError(error)}`, 'route', where, { cause: error }),
      );
      return undefined;
    }
    if (channel === null || channel === undefined) {
      this.stats.skipped++;
      return undefined;
    }
    const badChannel = checkChannelName(channel, { broadcast: true });
    if (badChannel !== undefined) {
      this.stats.skipped++;
      this.#emitError(new KafkaBridgeError(`route gave ${badChannel}`, 'route', where));
      return undefined;
    }
    if (!isValidEventName(event)) {
      this.stats.skipped++;
      this.#emitError(
        new KafkaBridgeError(`route gave an invalid event name for channel "${channel}"`, 'route', {
          ...where,
          channel,
        }),
      );
      return undefined;
    }
    try {
      return hub.publish(channel, event, record.value, { id: recordId(topic, partition, message.offset) });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ------------------------------------------------------------------------------------------------
  // client publishes → Kafka
  // ------------------------------------------------------------------------------------------------

  readonly #onClientPublish = (publish: ClientPublish): void => {
    const batcher = this.#batcher;
    if (batcher === undefined) return;
    for (const { matches, rule } of this.#rules) {
      if (!matches(publish.channel)) continue;
      let topic: string;
      let value: string | Buffer;
      let key: string | null;
      let headers: IHeaders | undefined;
      try {
        topic = typeof rule.topic === 'function' ? rule.topic(publish) : rule.topic;
        key = rule.key === undefined ? publish.channel : rule.key(publish);
        value = rule.value === undefined ? defaultForwardValue(publish) : rule.value(publish);
        headers = rule.headers?.(publish);
      } catch (error) {
        this.#forwardFailed(publish.channel, error);
        continue;
      }
      batcher.send({ topic, key, value, headers: { event: publish.event, id: publish.id, ...headers } }).then(
        () => this.stats.forwarded++,
        (error: unknown) => this.#forwardFailed(publish.channel, error),
      );
    }
  };

  #forwardFailed(channel: ChannelName, error: unknown): void {
    this.stats.forwardFailed++;
    // one report per second at most: an outage must not turn into an error storm
    const now = Date.now();
    if (now - this.#lastForwardError < 1_000) return;
    this.#lastForwardError = now;
    this.#emitError(
      new KafkaBridgeError(
        `a client publish on "${channel}" was not forwarded: ${describeError(error)}`,
        'forward',
        { channel },
        { cause: error },
      ),
    );
  }

  #emitError(error: KafkaBridgeError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

/** Creates a {@link KafkaBridge} on a service (or Hub) and starts it. */
export async function createKafkaBridge(target: BridgeTarget, options: KafkaBridgeOptions): Promise<KafkaBridge> {
  const bridge = new KafkaBridge(target, options);
  await bridge.start();
  return bridge;
}

async function withTimeout(work: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (work === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

/** The message id of a bridged record: the same for every node and every time it is consumed. */
export function recordId(topic: string, partition: number, offset: string): string {
  const id = `kb:${topic}:${partition}:${offset}`;
  if (id.length <= 64) return id;
  return `kb:${createHash('sha256').update(topic).digest('base64url').slice(0, 22)}:${partition}:${offset}`;
}

function defaultForwardValue(p: ClientPublish): string {
  return JSON.stringify({
    channel: p.channel,
    event: p.event,
    data: p.data,
    id: p.id,
    offset: p.offset,
    userId: p.conn.userId,
    connectionId: p.conn.id,
    ts: Date.now(),
  });
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  for (const [name, value] of Object.entries(headers)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}

function compileRoutes(topics: KafkaBridgeOptions['topics']): CompiledRoute[] {
  if (topics === undefined) return [];
  if (Array.isArray(topics)) {
    return topics.map((route, i) => {
      if (typeof route !== 'object' || route === null)
        throw new TypeError(`KafkaBridge: topics[${i}] must be { topic, channel, event? }`);
      if (!(typeof route.topic === 'string' && route.topic.length > 0) && !(route.topic instanceof RegExp)) {
        throw new TypeError(`KafkaBridge: topics[${i}].topic must be a topic name or a RegExp`);
      }
      if (
        typeof route.channel !== 'function' &&
        !isValidChannelName(route.channel) &&
        route.channel !== BROADCAST_CHANNEL
      ) {
        throw new TypeError(
          `KafkaBridge: topics[${i}].channel must be a channel name or a function, got ${JSON.stringify(route.channel)}`,
        );
      }
      if (
        route.event !== undefined &&
        typeof route.event !== 'function' &&
        (typeof route.event !== 'string' || route.event.length === 0)
      ) {
        throw new TypeError(`KafkaBridge: topics[${i}].event must be an event name or a function`);
      }
      return { topic: route.topic, channel: route.channel, event: route.event };
    });
  }
  if (typeof topics !== 'object' || topics === null)
    throw new TypeError('KafkaBridge: topics must be { topic: channel } or an array of routes');
  return Object.entries(topics).map(([topic, channel]) => {
    if (!isValidChannelName(channel) && channel !== BROADCAST_CHANNEL) {
      throw new TypeError(`KafkaBridge: topics["${topic}"] must be a channel name, got ${JSON.stringify(channel)}`);
    }
    return { topic, channel, event: undefined };
  });
}

function compileRules(forward: ForwardRule[] | undefined): CompiledRule[] {
  if (forward === undefined) return [];
  if (!Array.isArray(forward)) throw new TypeError('KafkaBridge: forward must be an array of { channels, topic }');
  return forward.map((rule, i) => {
    if (typeof rule !== 'object' || rule === null)
      throw new TypeError(`KafkaBridge: forward[${i}] must be { channels, topic }`);
    if (
      typeof rule.topic !== 'function' &&
      (typeof rule.topic !== 'string' || !/^[A-Za-z0-9._-]{1,249}$/.test(rule.topic))
    ) {
      throw new TypeError(`KafkaBridge: forward[${i}].topic must be a Kafka topic name or a function`);
    }
    return { matches: compileChannelMatcher(rule.channels, `forward[${i}].channels`), rule };
  });
}

function compileChannelMatcher(channels: ForwardRule['channels'], what: string): (channel: ChannelName) => boolean {
  if (typeof channels === 'function') return channels;
  if (channels instanceof RegExp) return (channel) => channels.test(channel);
  const patterns = typeof channels === 'string' ? [channels] : channels;
  if (!Array.isArray(patterns) || patterns.length === 0) {
    throw new TypeError(`KafkaBridge: ${what} must be a pattern, patterns, a RegExp or a function`);
  }
  const matchers = patterns.map((pattern) => {
    if (typeof pattern !== 'string' || !/^[A-Za-z0-9_.:=@*-]{1,200}$/.test(pattern)) {
      throw new TypeError(
        `KafkaBridge: ${what}: invalid channel pattern ${JSON.stringify(pattern)} (channel characters with * wildcards)`,
      );
    }
    if (!pattern.includes('*')) return (channel: ChannelName) => channel === pattern;
    const regex = new RegExp(
      `^${pattern
        .split('*')
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[A-Za-z0-9_.:=@-]*')}$`,
    );
    return (channel: ChannelName) => regex.test(channel);
  });
  return (channel) => matchers.some((m) => m(channel));
}

function compileDecoder(decode: BridgeDecoder): (value: Buffer | null, record: KafkaMessage, topic: string) => unknown {
  if (typeof decode === 'function') return decode;
  if (decode === 'json') {
    return (value) => {
      if (value === null) throw new Error('the record has no value');
      return JSON.parse(value.toString('utf8')) as unknown;
    };
  }
  if (decode === 'text') return (value) => (value === null ? null : value.toString('utf8'));
  throw new TypeError(`KafkaBridge: decode must be 'json', 'text' or a function, got ${JSON.stringify(decode)}`);
}

function compileKeyDecoder(decodeKey: KafkaBridgeOptions['decodeKey']): (key: Buffer | null) => string | null {
  if (typeof decodeKey === 'function') return decodeKey;
  if (decodeKey === 'text') return (key) => (key === null ? null : key.toString('utf8'));
  throw new TypeError(`KafkaBridge: decodeKey must be 'text' or a function, got ${JSON.stringify(decodeKey)}`);
}

function compileEvent(event: KafkaBridgeOptions['event']): (record: BridgeRecord) => string {
  if (typeof event === 'function') return event;
  if (typeof event === 'string') {
    const badEvent = checkEventName(event, 'event');
    if (badEvent !== undefined) throw new TypeError(`KafkaBridge: ${badEvent}`);
    return () => event;
  }
  if (event !== undefined) throw new TypeError('KafkaBridge: event must be an event name or a function');
  return (record) => record.headers.event ?? 'message';
}
