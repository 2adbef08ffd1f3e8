import { HOST, kafkaPort, redisPort } from './config.mjs';
import { kafkaAnswers } from './kafka.mjs';
import { pingRedis } from './redis.mjs';

const SERVICES = {
  redis: {
    label: 'Redis',
    what: 'no Redis',
    port: redisPort,
    available: async (port) => (await pingRedis(port)) === '+PONG',
  },
  kafka: { label: 'Kafka', what: 'no broker', port: kafkaPort, available: (port) => kafkaAnswers(port) },
};

const warned = new Set();

/**
 * For a test suite that needs a real service: resolves true when it answers (never starts anything).
 * When it is absent, throws if CI=true (CI must run every suite) and otherwise prints one loud
 * SKIPPED line to stderr and resolves false, for `describe.skipIf(!available)`.
 */
export async function requireService(name) {
  const service = SERVICES[name];
  if (!service) throw new TypeError(`requireService(${JSON.stringify(name)}): expected 'redis' or 'kafka'`);
  const port = service.port();
  if (await service.available(port)) return true;
  const where = `${HOST}:${port}`;
  if (process.env.CI === 'true') {
    throw new Error(
      `${service.label} is required in CI (CI=true) but ${service.what} answers at ${where}. ` +
        'Start it with "pnpm services:up" before the tests, or set UNISOCKET_SERVICES=auto with the ' +
        '@unisocket/services/global-setup vitest globalSetup so the test run starts it.',
    );
  }
  if (!warned.has(name)) {
    warned.add(name);
    process.stderr.write(
      `\n[unisocket] SKIPPED: ${service.label} tests — ${service.what} at ${where}; run "pnpm services:up"\n\n`,
    );
  }
  return false;
}
