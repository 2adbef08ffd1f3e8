import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { ensureKafka, freePort, mayStartPrivate, requireService, restartKafka, stopKafka } from '@unisocket/services';
import globalSetup from '@unisocket/services/global-setup';

// UNISOCKET_SERVICES=off starts nothing anywhere, this suite's private broker included: it skips (fails under CI=true,
// like any suite missing its service). Asked before the ports switch below.
const mayStart = await mayStartPrivate('kafka');

// This suite stops and restarts its broker, so it runs its own on a separate port rather than
// pulling the shared broker out from under anyone else's tests.
process.env.KAFKA_PORT = process.env.UNISOCKET_TEST_KAFKA_PORT ?? '19092';
process.env.KAFKA_CONTROLLER_PORT = String(Number(process.env.KAFKA_PORT) + 1);
delete process.env.KAFKA_BROKERS; // requireService('kafka') in this file means the private broker

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

describe.skipIf(!mayStart)('Kafka broker (integration)', () => {
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
    // the key guard is the outer run's business, not this nested setup's
    await withEnv({ UNISOCKET_SERVICES: 'auto', UNISOCKET_REDIS_KEY_GUARD: 'off' }, async () => {
      const teardown = await globalSetup();
      expect(teardown).toBeTypeOf('function');
      await teardown?.();
    });
    expect(await requireService('kafka')).toBe(true);
  });
});

/** True when something accepts a TCP connection on 127.0.0.1:port. */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Sets env variables for one call and puts the old values back. */
async function withEnv<T>(vars: Record<string, string>, run: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await run();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('globalSetup with UNISOCKET_SERVICES=off', () => {
  it('does nothing, even in CI', async () => {
    const setup = await withEnv({ CI: 'true', UNISOCKET_SERVICES: 'off', UNISOCKET_REDIS_KEY_GUARD: 'off' }, () =>
      globalSetup(),
    );
    expect(setup).toBeUndefined();
  });

  it('starts no Redis and no Kafka on ports where none runs, even in CI', async () => {
    const [redisPort, kafkaPort] = await Promise.all([freePort(), freePort()]);
    await withEnv(
      {
        CI: 'true',
        UNISOCKET_SERVICES: 'off',
        REDIS_PORT: String(redisPort),
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        KAFKA_PORT: String(kafkaPort),
        KAFKA_CONTROLLER_PORT: String(kafkaPort + 1),
      },
      async () => {
        const teardown = await globalSetup();
        expect(await canConnect(redisPort)).toBe(false);
        expect(await canConnect(kafkaPort)).toBe(false);
        await teardown?.();
      },
    );
  });

  it('a suite with a private broker may not start it: CI=true rejects, elsewhere false', async () => {
    await withEnv({ CI: 'true', UNISOCKET_SERVICES: 'off' }, async () => {
      await expect(mayStartPrivate('kafka')).rejects.toThrow(/required in CI .*UNISOCKET_SERVICES=off/);
    });
    await withEnv({ CI: 'false', UNISOCKET_SERVICES: 'off' }, async () => {
      expect(await mayStartPrivate('kafka')).toBe(false);
    });
    await withEnv({ CI: 'true', UNISOCKET_SERVICES: 'auto' }, async () => {
      expect(await mayStartPrivate('kafka')).toBe(true);
    });
  });
});
