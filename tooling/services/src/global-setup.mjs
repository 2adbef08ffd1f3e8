import { HOST, kafkaBrokers, kafkaPort, servicesOff } from './config.mjs';
import { ensureKafka, stopKafka } from './kafka.mjs';
import { randomBytes } from 'node:crypto';
import { RUNS_PREFIX, deleteExactKeys, keyGroup, registerRun, testKeys } from './redis-keys.mjs';
import { ensureRedis, stopRedis } from './redis.mjs';

/** A `test:` key untouched this long before the run is a leftover of an earlier run, not a run going on now. */
const STALE_S = 300;

/**
 * The Redis key guard: every suite deletes the keys it made under `test:` (its own prefixes, in afterAll).
 * At setup it clears leftovers of earlier runs — only `test:` keys idle for STALE_S or more; younger ones may
 * belong to a run going on in parallel on the same Redis, so they are remembered and never blamed on this run.
 * At teardown it lists the `test:` keys this run left (created after setup, still there after a short grace) by
 * prefix: CI=true fails the run, elsewhere a warning. Keys outside `test:` (an app, `pnpm start`) are never looked at.
 * Runs on the same Redis at the same time (other checkouts, other sessions) cannot be told apart by their keys, so
 * each run registers itself (`test:runs:<id>`, a TTL its heartbeat renews): while another run is registered, setup
 * deletes nothing and teardown only warns.
 * UNISOCKET_REDIS_KEY_GUARD=off disables it; no Redis answering disables it too.
 */
async function redisKeyGuard() {
  if (process.env.UNISOCKET_REDIS_KEY_GUARD === 'off') return undefined;
  const before = await testKeys();
  if (before === undefined) return undefined;
  const run = await registerRun(`${process.pid}-${randomBytes(3).toString('hex')}`).catch(() => undefined);
  if (!run) return undefined;
  const othersAtStart = await run.others();
  for (const key of before.keys()) if (key.startsWith(RUNS_PREFIX)) before.delete(key);
  const stale = othersAtStart.length > 0 ? [] : [...before].filter(([, idle]) => idle >= STALE_S).map(([key]) => key);
  if (stale.length > 0) {
    await deleteExactKeys(stale);
    const groups = [...new Set(stale.map(keyGroup))];
    process.stderr.write(
      `[unisocket] note: deleted ${stale.length} test: key(s) left on Redis by an earlier run ` +
        `(${groups.slice(0, 8).join(', ')}${groups.length > 8 ? ', …' : ''})\n`,
    );
    for (const key of stale) before.delete(key);
  }
  return async function checkLeftovers() {
    const find = async () => {
      const now = await testKeys();
      return now === undefined ? [] : [...now.keys()].filter((key) => !before.has(key) && !key.startsWith(RUNS_PREFIX));
    };
    const others = [...new Set([...othersAtStart, ...(await run.others())])];
    await run.close();
    let left = await find();
    if (left.length > 0) {
      // a closing client may still be flushing its last DEL
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const again = new Set(await find());
      left = left.filter((key) => again.has(key));
    }
    if (left.length === 0) return;
    const counts = new Map();
    for (const key of left) counts.set(keyGroup(key), (counts.get(keyGroup(key)) ?? 0) + 1);
    const lines = [...counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 20)
      .map(([group, n]) => `  ${group}* (${n})`);
    const message =
      `${left.length} Redis key(s) under test: were left by this test run; the suite that made each prefix must ` +
      `delete its keys in afterAll (SCAN + DEL, see deleteRedisKeys in @unisocket/services):\n${lines.join('\n')}`;
    if (others.length > 0) {
      process.stderr.write(
        `\n[unisocket] WARNING: ${message}\n(not an error: ${others.length} other test run(s) shared this Redis ` +
          'meanwhile, so some of these may be theirs)\n\n',
      );
      return;
    }
    if (process.env.CI === 'true') throw new Error(message);
    process.stderr.write(`\n[unisocket] WARNING: ${message}\n\n`);
  };
}

/**
 * vitest globalSetup: starts Redis and Kafka (when not already running) before any test file runs, so
 * `pnpm test` needs nothing else. UNISOCKET_SERVICES=off starts nothing, anywhere: neither here nor in the
 * suites that would start a private broker (they skip, or fail under CI=true, like any suite missing a service).
 * In CI (CI=true) a service that cannot start fails the run; elsewhere it prints a warning and the suites that
 * need it skip loudly. Teardown stops only what this run started, so services brought up by `pnpm services:up`
 * stay up; UNISOCKET_SERVICES_KEEP=1 keeps what it started too. Then the Redis key guard (above) runs.
 */
export default async function setup() {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  let started = { redis: { started: false }, kafka: { started: false } };
  if (!servicesOff()) {
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
    // KAFKA_BROKERS naming another broker: the suites use that one (kafkaBrokers()), so none is started here
    const kafkaHere = kafkaBrokers()[0] === `${HOST}:${kafkaPort()}`;
    const [redis, kafka] = await Promise.all([
      tryStart('Redis', ensureRedis),
      kafkaHere ? tryStart('Kafka', ensureKafka) : { started: false },
    ]);
    started = { redis, kafka };
  }
  const guard = await redisKeyGuard();
  if (!guard && servicesOff()) return undefined;
  return async function teardown() {
    try {
      await guard?.();
    } finally {
      if (process.env.UNISOCKET_SERVICES_KEEP !== '1') {
        await Promise.all([
          started.kafka.started ? stopKafka() : undefined,
          started.redis.started ? stopRedis() : undefined,
        ]);
      }
    }
  };
}
