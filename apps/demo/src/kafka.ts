import type { KafkaBridge } from '@unisocket/broker-kafka';
import type { UnifiedWebSocketService, UnifiedWebSocketServiceOptions } from '@unisocket/server';

/** The channel the demo streams a Kafka topic into (shown in the page's Kafka panel). */
export const KAFKA_EVENTS_CHANNEL = 'kafka.events';
/** The channel whose client publishes the demo forwards to that topic (the panel's form): a round trip through Kafka. */
export const KAFKA_OUT_CHANNEL = 'kafka.out';

/** The running Kafka example. */
export interface KafkaExample {
  bridge: KafkaBridge;
  /** The Kafka topic streamed into {@link KAFKA_EVENTS_CHANNEL}. */
  topic: string;
  close(): Promise<void>;
}

/**
 * The demo's Kafka example, on when `BROKER=kafka` or `KAFKA_BRIDGE_TOPIC` is set:
 * - the topic `KAFKA_BRIDGE_TOPIC` (default `demo.events`) is streamed into the channel `kafka.events` by a
 *   {@link KafkaBridge} whose consumer group (`KAFKA_BRIDGE_GROUP`, default `unisocket.demo.bridge`) is shared by every
 *   demo node, so each record is broadcast once to the whole cluster;
 * - what the page publishes on `kafka.out` is forwarded to that topic, so it comes back through Kafka;
 * - unless `KAFKA_DEMO_GENERATOR=off`, a stand-in backend produces a sensor reading to the topic every 3 s.
 */
export async function startKafkaExample(
  service: UnifiedWebSocketService,
  options: UnifiedWebSocketServiceOptions,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<KafkaExample | undefined> {
  const broker =
    options.broker !== undefined && 'type' in options.broker && options.broker.type === 'kafka'
      ? options.broker
      : undefined;
  const topic = env.KAFKA_BRIDGE_TOPIC || (broker !== undefined ? 'demo.events' : undefined);
  if (topic === undefined) return undefined;
  const { createKafkaBridge } = await import('@unisocket/broker-kafka');
  const connection = {
    brokers:
      broker?.brokers ??
      (env.KAFKA_BROKERS ?? '127.0.0.1:9092')
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
    clientId: `${typeof broker?.clientId === 'string' ? broker.clientId : 'unisocket-demo'}-bridge`,
    ...(broker?.ssl === undefined ? {} : { ssl: broker.ssl as boolean }),
    ...(broker?.sasl === undefined ? {} : { sasl: broker.sasl as never }),
  };
  const bridge = await createKafkaBridge(service, {
    ...connection,
    groupId: env.KAFKA_BRIDGE_GROUP || 'unisocket.demo.bridge',
    topics: [{ topic, channel: KAFKA_EVENTS_CHANNEL }],
    forward: [{ channels: KAFKA_OUT_CHANNEL, topic, value: (p) => JSON.stringify(p.data) }],
    createTopics: true,
  });
  bridge.on('error', (error) => log(`kafka bridge (${error.kind}): ${error.message}`));

  let timer: NodeJS.Timeout | undefined;
  const producer = env.KAFKA_DEMO_GENERATOR === 'off' ? undefined : bridge.kafka.producer();
  if (producer !== undefined) {
    await producer.connect();
    let celsius = 21;
    timer = setInterval(() => {
      celsius = Math.round((celsius + (Math.random() - 0.5)) * 10) / 10;
      const reading = { sensor: 'greenhouse-1', celsius, node: service.nodeId, at: new Date().toISOString() };
      producer
        .send({
          topic,
          messages: [{ key: reading.sensor, value: JSON.stringify(reading), headers: { event: 'reading' } }],
        })
        .catch((error: unknown) => log(`kafka demo producer: ${String(error)}`));
    }, 3_000);
    timer.unref();
  }
  log(
    `kafka example: topic ${topic} -> channel ${KAFKA_EVENTS_CHANNEL}; publishes on ${KAFKA_OUT_CHANNEL} -> topic ${topic}`,
  );
  return {
    bridge,
    topic,
    async close() {
      clearInterval(timer);
      await producer?.disconnect().catch(() => undefined);
      await bridge.stop();
    },
  };
}
