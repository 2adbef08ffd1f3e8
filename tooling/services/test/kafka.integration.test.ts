import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureKafka, requireService, restartKafka, stopKafka } from '@unisocket/services';
import globalSetup from '@unisocket/services/global-setup';

// This suite stops and restarts its broker, so it runs its own on a separate port rather than
// pulling the shared 9092 broker out from under anyone else's tests.
process.env.KAFKA_PORT = process.env.UNISOCKET_TEST_KAFKA_PORT ?? '19092';
process.env.KAFKA_CONTROLLER_PORT = String(Number(process.env.KAFKA_PORT) + 1);

let brokers: string[];
const client = () => new Kafka({ clientId: 'services-test', brokers, logLevel: logLevel.NOTHING });

async function consumeAll(topic: string, count: number): Promise<string[]> {
  const consumer: Consumer = client().consumer({ groupId: `services-test-${Date.now()}-${Math.random()}` });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${values.length}/${count} messages after 60 s`)), 60_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          values.push(message.value?.toString() ?? '');
          if (values.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

async function produce(topic: string, value: string) {
  const producer = client().producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: [{ value }] });
  } finally {
    await producer.disconnect();
  }
}

describe('Kafka broker (integration)', () => {
  const topic = `services-test-${Date.now()}`;

  beforeAll(async () => {
    ({ brokers } = await ensureKafka());
  });

  afterAll(async () => {
    await stopKafka();
  });

  it('is ready when ensureKafka resolves: create a topic, produce, consume', async () => {
    const admin = client().admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })).toBe(true);
    } finally {
      await admin.disconnect();
    }
    await produce(topic, 'before restart');
    expect(await consumeAll(topic, 1)).toEqual(['before restart']);
  });

  it('ensureKafka and requireService see the running broker without starting another', async () => {
    const again = await ensureKafka();
    expect(again).toEqual({ brokers, started: false });
    expect(await requireService('kafka')).toBe(true);
  });

  it('restartKafka brings the broker back on the same log dir', async () => {
    await restartKafka({ log: () => {} });
    await produce(topic, 'after restart');
    expect(await consumeAll(topic, 2)).toEqual(['before restart', 'after restart']);
  });

  it('the globalSetup teardown leaves a broker it did not start running', async () => {
    const saved = process.env.UNISOCKET_SERVICES;
    process.env.UNISOCKET_SERVICES = 'auto';
    try {
      const teardown = await globalSetup();
      expect(teardown).toBeTypeOf('function');
      await teardown?.();
    } finally {
      if (saved === undefined) delete process.env.UNISOCKET_SERVICES;
      else process.env.UNISOCKET_SERVICES = saved;
    }
    expect(await requireService('kafka')).toBe(true);
  });
});

describe('globalSetup with UNISOCKET_SERVICES=off', () => {
  it('does nothing, even in CI', async () => {
    const saved = { CI: process.env.CI, mode: process.env.UNISOCKET_SERVICES };
    process.env.CI = 'true';
    process.env.UNISOCKET_SERVICES = 'off';
    try {
      expect(await globalSetup()).toBeUndefined();
    } finally {
      if (saved.CI === undefined) delete process.env.CI;
      else process.env.CI = saved.CI;
      if (saved.mode === undefined) delete process.env.UNISOCKET_SERVICES;
      else process.env.UNISOCKET_SERVICES = saved.mode;
    }
  });
});
