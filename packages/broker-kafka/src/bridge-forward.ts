import type { ChannelName, ClientPublish, Hub } from '@unisocket/core';
import type { IHeaders, Kafka, Producer } from 'kafkajs';
import type { BridgeConfig } from './bridge-config';
import { type BridgeStats, KafkaBridgeError } from './bridge-options';
import { describeError } from './connection';
import { ProduceBatcher } from './producer';

/**
 * Channels → topics: listens to the Hub's `clientPublish` (accepted client publishes) and produces those on matching
 * channels to their topics through an idempotent producer with a bounded queue. Forwarding never delays the client's
 * ack; what cannot be forwarded is counted and reported at most once per second.
 */
export class BridgeForwarder {
  readonly #kafka: Kafka;
  readonly #config: BridgeConfig;
  readonly #stats: BridgeStats;
  readonly #emitError: (error: KafkaBridgeError) => void;
  #hub: Hub | undefined;
  #producer: Producer | undefined;
  #batcher: ProduceBatcher | undefined;
  #lastForwardError = 0;

  constructor(kafka: Kafka, config: BridgeConfig, stats: BridgeStats, emitError: (error: KafkaBridgeError) => void) {
    this.#kafka = kafka;
    this.#config = config;
    this.#stats = stats;
    this.#emitError = emitError;
  }

  /** Connects the producer, then forwards `hub`'s client publishes. */
  async start(hub: Hub): Promise<void> {
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
      maxQueued: this.#config.settings.maxQueuedForwards,
      queueTimeoutMs: this.#config.settings.forwardTimeoutMs,
      resendDelayMs: 250,
      what: 'forwarded publish',
    });
    this.#hub = hub;
    hub.on('clientPublish', this.#onClientPublish);
  }

  /** Stops listening to client publishes. */
  detach(): void {
    this.#hub?.off('clientPublish', this.#onClientPublish);
  }

  /** Sends what is queued for up to `timeoutMs`, then refuses the rest. */
  async close(timeoutMs: number): Promise<void> {
    await this.#batcher?.close(timeoutMs);
  }

  /** Disconnects the producer (`undefined` when none was created). */
  disconnect(): Promise<void> | undefined {
    return this.#producer?.disconnect();
  }

  readonly #onClientPublish = (publish: ClientPublish): void => {
    const batcher = this.#batcher;
    if (batcher === undefined) return;
    for (const { matches, rule } of this.#config.rules) {
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
        () => this.#stats.forwarded++,
        (error: unknown) => this.#forwardFailed(publish.channel, error),
      );
    }
  };

  #forwardFailed(channel: ChannelName, error: unknown): void {
    this.#stats.forwardFailed++;
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
}

/** The default forwarded record value: JSON `{ channel, event, data, id, offset, userId, connectionId, ts }`. */
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
