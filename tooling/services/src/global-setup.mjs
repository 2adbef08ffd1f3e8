import { ensureKafka, stopKafka } from './kafka.mjs';
import { ensureRedis, stopRedis } from './redis.mjs';

/**
 * vitest globalSetup: starts Redis and Kafka (when not already running) before any test file runs, so
 * `pnpm test` needs nothing else. UNISOCKET_SERVICES=off disables it. In CI (CI=true) a service that cannot
 * start fails the run; elsewhere it prints a warning and the suites that need it skip loudly.
 * Teardown stops only what this run started, so services brought up by `pnpm services:up` stay up;
 * UNISOCKET_SERVICES_KEEP=1 keeps what it started too.
 */
export default async function setup() {
  if (process.env.UNISOCKET_SERVICES === 'off') return undefined;
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  const ci = process.env.CI === 'true';
  const tryStart = async (name, ensure) => {
    try {
      return await ensure();
    } catch (error) {
      if (ci) throw error;
      process.stderr.write(`\n[unisocket] could not start ${name} (${error.message}); its tests will be SKIPPED\n\n`);
      return { started: false };
    }
  };
  const [redis, kafka] = await Promise.all([tryStart('Redis', ensureRedis), tryStart('Kafka', ensureKafka)]);
  return async function teardown() {
    if (process.env.UNISOCKET_SERVICES_KEEP === '1') return;
    await Promise.all([kafka.started ? stopKafka() : undefined, redis.started ? stopRedis() : undefined]);
  };
}
