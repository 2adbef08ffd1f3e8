import { HOST, kafkaBrokers, redisPort, servicesOff } from './config.mjs';
import { kafkaAnswers } from './kafka.mjs';
import { pingRedis } from './redis.mjs';

const SERVICES = {
  redis: {
    label: 'Redis',
    what: 'no Redis',
    where: () => `${HOST}:${redisPort()}`,
    available: async () => (await pingRedis(redisPort())) === '+PONG',
  },
  kafka: {
    label: 'Kafka',
    what: 'no broker',
    // the first of kafkaBrokers(): the address every Kafka suite connects to (KAFKA_BROKERS, else KAFKA_PORT)
    where: () => kafkaBrokers()[0],
    available: async () => {
      const [host, port] = splitHostPort(kafkaBrokers()[0]);
      return kafkaAnswers(port, { host });
    },
  },
};

function splitHostPort(address) {
  const at = address.lastIndexOf(':');
  const host = at > 0 ? address.slice(0, at).replace(/^\[|\]$/g, '') : address;
  const port = at > 0 ? Number(address.slice(at + 1)) : 9092;
  return [host || HOST, port];
}

/**
 * The one rule for a missing service: CI=true throws (CI must run every suite), elsewhere one loud
 * SKIPPED line per `key` and `false`.
 */
function missing(key, label, message) {
  if (process.env.CI === 'true') {
    throw new Error(`${label} is required in CI (CI=true) but ${message}`);
  }
  if (!warned.has(key)) {
    warned.add(key);
    process.stderr.write(`\n[unisocket] SKIPPED: ${label} tests — ${message}\n\n`);
  }
  return false;
}

const warned = new Set();

/**
 * For a test suite that needs a real service: resolves true when it answers (never starts anything).
 * When it is absent, throws if CI=true (CI must run every suite) and otherwise prints one loud
 * SKIPPED line to stderr and resolves false, for `describe.skipIf(!available)`.
 */
export async function requireService(name) {
  const service = SERVICES[name];
  if (!service) throw new TypeError(`requireService(${JSON.stringify(name)}): expected 'redis' or 'kafka'`);
  if (await service.available()) return true;
  const where = service.where();
  if (process.env.CI === 'true') {
    return missing(
      name,
      service.label,
      `${service.what} answers at ${where}. Start it with "pnpm services:up" before the tests, or leave ` +
        'UNISOCKET_SERVICES unset (not off) with the @unisocket/services/global-setup vitest globalSetup so the test run starts it.',
    );
  }
  return missing(name, service.label, `${service.what} at ${where}; run "pnpm services:up"`);
}

/**
 * For a suite that starts a private service of its own (a broker it stops and restarts): resolves true when it may.
 * With UNISOCKET_SERVICES=off nothing is started anywhere, so the suite follows the rule of a missing service:
 * CI=true rejects, elsewhere one SKIPPED line and false.
 */
export async function mayStartPrivate(name) {
  const service = SERVICES[name];
  if (!service) throw new TypeError(`mayStartPrivate(${JSON.stringify(name)}): expected 'redis' or 'kafka'`);
  if (!servicesOff()) return true;
  return missing(
    `private-${name}`,
    `${service.label} (private)`,
    'UNISOCKET_SERVICES=off, so no private server is started; unset it to run these tests',
  );
}
