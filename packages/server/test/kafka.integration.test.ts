import { randomBytes } from 'node:crypto';
import { kafkaBrokers, requireService } from '@unisocket/services';
import { createKafkaClient } from '@unisocket/broker-kafka';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createUnifiedWebSocketService, optionsFromEnv } from '../src/index';
import { RawClient, type TestServer, startServer, waitFor } from './helpers';

const kafkaUp = await requireService('kafka');
// KAFKA_BROKERS, else 127.0.0.1:KAFKA_PORT: the broker requireService checked
const KAFKA_BROKERS = kafkaBrokers();

const servers: TestServer[] = [];
const topics: string[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  if (topics.length === 0) return;
  const admin = createKafkaClient({ brokers: KAFKA_BROKERS }, 'test').admin();
  await admin.connect();
  await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
  await admin.disconnect();
});

describe("broker { type: 'kafka' } options", { timeout: 30_000 }, () => {
  it('refuses history given twice', () => {
    expect(() =>
      createUnifiedWebSocketService({
        broker: { type: 'kafka', brokers: KAFKA_BROKERS, history: { size: 1 } },
        history: { size: 2 },
      }),
    ).toThrow(/either at the top level or in broker.history/);
  });

  it('reads BROKER=kafka and the KAFKA_* variables of the messaging seed', () => {
    const { options, used } = optionsFromEnv({
      BROKER: 'kafka',
      KAFKA_BROKERS: 'k1:9092, k2:9093',
      KAFKA_CLIENT_ID: 'neuro-backend',
      KAFKA_TOPIC: 'app.messages',
      KAFKA_SSL: 'true',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'secret',
    });
    expect(options.broker).toEqual({
      type: 'kafka',
      brokers: ['k1:9092', 'k2:9093'],
      clientId: 'neuro-backend',
      topic: 'app.messages',
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 'secret' },
    });
    expect(used.KAFKA_SASL_PASSWORD).toBe('***');
    expect(optionsFromEnv({ BROKER: 'kafka', KAFKA_SSL: 'false' }).options.broker).toEqual({
      type: 'kafka',
      brokers: ['127.0.0.1:9092'],
    });
    expect(() => optionsFromEnv({ BROKER: 'kafka', KAFKA_SSL: 'yes' })).toThrow(/KAFKA_SSL must be true or false/);
    expect(() => optionsFromEnv({ BROKER: 'kafka', KAFKA_SASL_MECHANISM: 'gssapi' })).toThrow(/KAFKA_SASL_MECHANISM/);
    expect(() => optionsFromEnv({ BROKER: 'kafka', KAFKA_SASL_MECHANISM: 'plain' })).toThrow(
      /needs KAFKA_SASL_USERNAME/,
    );
  });

  it('refuses unknown Kafka options at initialize', async () => {
    await expect(startServer({ broker: { type: 'kafka', brokers: KAFKA_BROKERS, bogus: true } })).rejects.toThrow(
      /unknown KafkaBroker option "bogus"/,
    );
  });
});

describe.skipIf(!kafkaUp)("createUnifiedWebSocketService({ broker: { type: 'kafka' } })", { timeout: 60_000 }, () => {
  it('two services on one Kafka topic: cross-node delivery, recovery on the other node, health', async () => {
    const topic = `test.server.${randomBytes(4).toString('hex')}`;
    topics.push(topic);
    const broker = { type: 'kafka' as const, brokers: KAFKA_BROKERS, topic, partitions: 2 };
    const a = await startServer({ broker, nodeId: 'node-a', history: { size: 50 } });
    servers.push(a);
    const b = await startServer({ broker, nodeId: 'node-b', history: { size: 50 } });
    servers.push(b);
    expect(a.service.broker.kind).toBe('kafka');
    expect(a.service.broker.nodeId).toBe('node-a');
    expect(a.service.getHealthStatus()).toMatchObject({ status: 'healthy', broker: { kind: 'kafka', state: 'ready' } });
    const onB = await RawClient.open(b.url);
    const sub = await onB.request({ type: 'subscribe', channel: 'news' });
    expect(sub.epoch).toMatch(new RegExp(`^${topic.replace(/\./g, '\\.')}:[01]:`));
    for (let i = 1; i <= 3; i++) await a.service.broadcast('news', 'n', i);
    await waitFor(() => onB.messages().length === 3, 20_000);
    expect(onB.messages().map((m) => m.data)).toEqual([1, 2, 3]);
    const seen = onB.messages()[2]!.offset as number;
    onB.ws.terminate();
    const last: { offset: number }[] = [];
    for (let i = 4; i <= 6; i++) last.push(await b.service.broadcast('news', 'n', i));
    await waitFor(
      () => (a.service.broker.history.position('news') as { offset: number }).offset >= last[2]!.offset,
      20_000,
    );
    const onA = await RawClient.open(a.url);
    const ack = await onA.request({ type: 'subscribe', channel: 'news', since: { epoch: sub.epoch, offset: seen } });
    expect(ack).toMatchObject({ recovered: true, epoch: sub.epoch });
    await waitFor(() => onA.messages().length === 3, 20_000);
    expect(onA.messages().map((m) => m.data)).toEqual([4, 5, 6]);
    expect(onA.messages().map((m) => m.offset)).toEqual(last.map((r) => r.offset));
    onA.close();
  });
});
