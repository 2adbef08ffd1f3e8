import { EventEmitter } from 'node:events';
import { Hub } from '@unisocket/core';
import type { Kafka } from 'kafkajs';
import { type BridgeConfig, resolveBridgeConfig, resolveCreateTopics } from './bridge-config';
import { BridgeForwarder } from './bridge-forward';
import { BridgeInbound } from './bridge-inbound';
import type {
  BridgeStats,
  BridgeTarget,
  KafkaBridgeError,
  KafkaBridgeEvents,
  KafkaBridgeOptions,
} from './bridge-options';
import { createKafkaClient } from './connection';
import { createTopicsAndWait } from './topics';

/** How long creating the missing topics may take until every partition has a leader, in ms. */
const CREATE_TOPICS_TIMEOUT_MS = 30_000;

/**
 * The bridge between Kafka topics and channels:
 * - **topics → channels** ({@link BridgeInbound}): consumes the configured topics in one consumer group shared by
 *   every node, decodes each record (JSON by default), routes it to a channel and broadcasts it once — from the node
 *   that consumed it — to every subscriber in the cluster. Offsets are committed after the broadcast was accepted
 *   (at-least-once); the message id is derived from the record's topic, partition and offset, so a record consumed
 *   again after a rebalance is dropped by the broker's idempotency window instead of being delivered twice;
 * - **client publishes → topics** ({@link BridgeForwarder}): forwards accepted client publishes on matching channels
 *   to Kafka topics, through an idempotent producer with a bounded queue.
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
  readonly #config: BridgeConfig;
  readonly #createTopics: { partitions: number; replicationFactor: number } | undefined;
  readonly #inbound: BridgeInbound;
  readonly #forwarder: BridgeForwarder;
  #started: Promise<void> | undefined;
  #stopped = false;

  constructor(target: BridgeTarget, options: KafkaBridgeOptions) {
    super();
    if (target === null || typeof target !== 'object' || !(target instanceof Hub || 'hub' in target)) {
      throw new TypeError('KafkaBridge: target must be a Hub or a service with a hub (createUnifiedWebSocketService)');
    }
    if (typeof options !== 'object' || options === null) throw new TypeError('KafkaBridge: options must be an object');
    this.#target = target;
    this.#config = resolveBridgeConfig(options);
    this.groupId = this.#config.settings.groupId;
    this.#kafka = createKafkaClient(options, 'KafkaBridge');
    this.#createTopics = resolveCreateTopics(options.createTopics);
    const emitError = (error: KafkaBridgeError) => this.#emitError(error);
    this.#inbound = new BridgeInbound(this.#kafka, this.#config, this.stats, emitError);
    this.#forwarder = new BridgeForwarder(this.#kafka, this.#config, this.stats, emitError);
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
    try {
      if (this.#createTopics !== undefined) await this.#createMissingTopics(this.#createTopics);
      if (this.#config.rules.length > 0) await this.#forwarder.start(hub);
      if (this.#config.routes.length > 0) await this.#inbound.start(hub);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Stops bridging: leaves the group (its partitions move to the other nodes), sends what is queued. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#forwarder.detach();
    // quick when Kafka answers; bounded when it does not
    await withTimeout(
      this.#inbound.disconnect()?.catch(() => undefined),
      5_000,
    );
    await this.#forwarder.close(5_000);
    await withTimeout(
      this.#forwarder.disconnect()?.catch(() => undefined),
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
    for (const route of this.#config.routes) if (typeof route.topic === 'string') names.add(route.topic);
    for (const { rule } of this.#config.rules) if (typeof rule.topic === 'string') names.add(rule.topic);
    if (names.size === 0) return;
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = [...names].filter((t) => !existing.has(t));
      if (missing.length > 0) {
        await createTopicsAndWait(
          admin,
          missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })),
          Date.now() + CREATE_TOPICS_TIMEOUT_MS,
        );
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
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
