import { createHash } from 'node:crypto';
import {
  type ChannelName,
  ErrorCode,
  type Hub,
  type MaybePromise,
  type PublishAck,
  checkChannelName,
  isPromiseLike,
  isUnisocketError,
  isValidEventName,
} from '@unisocket/core';
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { BridgeConfig } from './bridge-config';
import { type BridgeRecord, type BridgeStats, KafkaBridgeError } from './bridge-options';
import { CONSUMER_RESILIENCE, describeError } from './connection';

/**
 * Topics → channels: consumes the bridged topics in the consumer group shared by every node running the bridge,
 * decodes each record, routes it to a channel and broadcasts it once (`hub.publish`), from the node that consumed it,
 * to every subscriber in the cluster. Offsets are committed in order after the broadcast was accepted; the message id
 * ({@link recordId}) makes a record consumed again after a rebalance a repeat the broker drops.
 */
export class BridgeInbound {
  readonly #kafka: Kafka;
  readonly #config: BridgeConfig;
  readonly #stats: BridgeStats;
  readonly #emitError: (error: KafkaBridgeError) => void;
  #hub: Hub | undefined;
  #consumer: Consumer | undefined;

  constructor(kafka: Kafka, config: BridgeConfig, stats: BridgeStats, emitError: (error: KafkaBridgeError) => void) {
    this.#kafka = kafka;
    this.#config = config;
    this.#stats = stats;
    this.#emitError = emitError;
  }

  /** Joins the bridge's group and starts broadcasting into `hub`; resolves once the consumer joined the group. */
  async start(hub: Hub): Promise<void> {
    this.#hub = hub;
    const consumer = this.#kafka.consumer({
      groupId: this.#config.settings.groupId,
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
    await consumer.subscribe({
      topics: this.#config.routes.map((r) => r.topic),
      fromBeginning: this.#config.settings.fromBeginning,
    });
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

  /** Leaves the group (its partitions move to the other nodes); `undefined` when no consumer was started. */
  disconnect(): Promise<void> | undefined {
    return this.#consumer?.disconnect();
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
      this.#stats.received++;
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
          this.#stats.broadcast++;
        } catch (error) {
          if (isUnisocketError(error) && error.code === ErrorCode.UNAVAILABLE) {
            throw new KafkaBridgeError(
              `the broker cannot take bridged records now: ${error.message}`,
              'publish',
              { topic, partition: batch.partition, offset },
              { cause: error },
            );
          }
          this.#stats.failed++;
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
    const { settings, routes } = this.#config;
    const where = { topic, partition, offset: message.offset };
    const size = message.value?.length ?? 0;
    if (size > settings.maxValueBytes) {
      this.#stats.skipped++;
      this.#emitError(
        new KafkaBridgeError(
          `record of ${size} bytes is over maxValueBytes (${settings.maxValueBytes})`,
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
        key: this.#config.decodeKey(message.key),
        headers: decodeHeaders(message.headers),
        value: this.#config.decode(message.value, message, topic),
        timestamp: Number(message.timestamp),
      };
    } catch (error) {
      this.#stats.undecodable++;
      this.#emitError(
        new KafkaBridgeError(`record does not decode: ${describeError(error)}`, 'decode', where, { cause: error }),
      );
      return undefined;
    }
    let channel: ChannelName | null | undefined;
    let event: string;
    try {
      const route = routes.find((r) => (typeof r.topic === 'string' ? r.topic === topic : r.topic.test(topic)));
      channel =
        route === undefined ? undefined : typeof route.channel === 'function' ? route.channel(record) : route.channel;
      const routeEvent = route?.event;
      event =
        routeEvent === undefined
          ? this.#config.event(record)
          : typeof routeEvent === 'function'
            ? routeEvent(record)
            : routeEvent;
    } catch (error) {
      this.#stats.skipped++;
      this.#emitError(
        new KafkaBridgeError(`routing the record failed: ${describeError(error)}`, 'route', where, { cause: error }),
      );
      return undefined;
    }
    if (channel === null || channel === undefined) {
      this.#stats.skipped++;
      return undefined;
    }
    const badChannel = checkChannelName(channel, { broadcast: true });
    if (badChannel !== undefined) {
      this.#stats.skipped++;
      this.#emitError(new KafkaBridgeError(`route gave ${badChannel}`, 'route', where));
      return undefined;
    }
    if (!isValidEventName(event)) {
      this.#stats.skipped++;
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
}

/** The message id of a bridged record: the same for every node and every time it is consumed. */
export function recordId(topic: string, partition: number, offset: string): string {
  const id = `kb:${topic}:${partition}:${offset}`;
  if (id.length <= 64) return id;
  return `kb:${createHash('sha256').update(topic).digest('base64url').slice(0, 22)}:${partition}:${offset}`;
}

/** Header values as UTF-8 text, the first value of a repeated header. */
function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  for (const [name, value] of Object.entries(headers)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}
