/**
 * W4 cross-node: two server processes joined by a broker (Redis, Kafka), the harness publishes on the first at a
 * fixed rate, the subscribers are connected to the second. The latency run is W2's (`runLatencyOnce` with two
 * nodes); the reported number is the latency *added* over the same peer with publisher and subscribers on one
 * process (the same-node run, interleaved with the cross-node ones).
 */
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import { combineLatencyRuns, runLatencyOnce } from './w2.mjs';
import { round3 } from './w1.mjs';

/** @typedef {'same' | 'redis' | 'kafka'} Backend */

/** Where the broker services are: the variables the demo app and `pnpm services:up` use. */
export function serviceAddresses() {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const kafkaBrokers = (process.env.KAFKA_BROKERS ?? `127.0.0.1:${process.env.KAFKA_PORT ?? 9092}`)
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  return { redisUrl, kafkaBrokers };
}

/**
 * Whether something accepts TCP connections at host:port within `timeoutMs`.
 * @param {string} host
 * @param {number} port
 * @param {number} [timeoutMs]
 */
function reachable(host, port, timeoutMs = 1500) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (/** @type {boolean} */ ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Which brokers answer. A missing one is reported (W4 then has no number for it), never a harness failure: speed
 * runs are not pass/fail, and `pnpm services:up` starts both.
 * @returns {Promise<Record<'redis' | 'kafka', string | null>>} null when reachable, else why not
 */
export async function probeBrokers() {
  const { redisUrl, kafkaBrokers } = serviceAddresses();
  const r = new URL(redisUrl);
  const [kHost = '127.0.0.1', kPort = '9092'] = (kafkaBrokers[0] ?? '').split(':');
  const [redisOk, kafkaOk] = await Promise.all([
    reachable(r.hostname, Number(r.port || 6379)),
    reachable(kHost, Number(kPort)),
  ]);
  return {
    redis: redisOk ? null : `Redis not reachable at ${redisUrl} (run \`pnpm services:up\`, or set REDIS_URL)`,
    kafka: kafkaOk
      ? null
      : `Kafka not reachable at ${kafkaBrokers.join(',')} (run \`pnpm services:up\`, or set KAFKA_BROKERS)`,
  };
}

/**
 * The server processes of one W4 run on `backend`. Every run gets its own Redis key prefix and Kafka topic, so no
 * run sees another's history, subscriptions or consumer offsets.
 * @param {Backend} backend
 * @returns {Array<{ broker?: import('../peers/types.mjs').BenchBroker }>}
 */
export function nodesFor(backend) {
  if (backend === 'same') return [{}];
  const run = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const { redisUrl, kafkaBrokers } = serviceAddresses();
  /** @type {import('../peers/types.mjs').BenchBroker} */
  const broker =
    backend === 'redis'
      ? { type: 'redis', url: redisUrl, prefix: `unisocket-bench:${run}:` }
      : { type: 'kafka', brokers: kafkaBrokers, topic: `unisocket-bench.${run}` };
  return [{ broker }, { broker }];
}

/**
 * One W4 run of `peer` on `backend` (`same`: one process, no broker, the baseline).
 * @param {import('./context.mjs').RunContext} ctx
 * @param {string} peerKey
 * @param {import('../config.mjs').CrossNodeParams} p
 * @param {Backend} backend
 */
export async function runCrossNodeOnce(ctx, peerKey, p, backend) {
  const nodes = nodesFor(backend);
  try {
    return await runLatencyOnce(ctx, peerKey, p, p.ratePerSec, {
      nodes,
      settleMs: backend === 'same' ? 0 : p.settleMs,
      ...(p.measured === undefined ? {} : { measured: p.measured }),
    });
  } finally {
    await removeRunData(nodes[0]?.broker).catch((err) =>
      ctx.log(`  (could not remove the run's broker data: ${err instanceof Error ? err.message : err})`),
    );
  }
}

/**
 * Remove what a run left in the broker: its Redis keys (history streams, offsets, presence), or its Kafka topic and
 * the consumer groups named after it. The bench must not fill the services it borrows.
 * @param {import('../peers/types.mjs').BenchBroker | undefined} broker
 */
export async function removeRunData(broker) {
  if (!broker) return;
  if (broker.type === 'redis') {
    const redis = new Redis(broker.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${broker.prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
    return;
  }
  const admin = new kafkajs.Kafka({
    clientId: 'unisocket-bench',
    brokers: broker.brokers,
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const { groups } = await admin.listGroups();
    const mine = groups.map((g) => g.groupId).filter((g) => g.startsWith(broker.topic));
    if (mine.length) await admin.deleteGroups(mine).catch(() => {});
    await admin.deleteTopics({ topics: [broker.topic], timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}

/**
 * A peer's W4 result from its runs per backend: each backend's merged latency, and what the broker added over
 * the same-node baseline (p50 and p99 differences). `addedP50Ms`/`addedP99Ms` are Redis's (the
 * target); Kafka's are `kafkaAddedP50Ms`/`kafkaAddedP99Ms`.
 * @param {Partial<Record<Backend, Array<Awaited<ReturnType<typeof runLatencyOnce>>>>>} runs
 * @param {Partial<Record<Backend, string>>} skipped backends not run, and why
 */
export function combineCrossNode(runs, skipped = {}) {
  /** @type {Record<string, ReturnType<typeof combineLatencyRuns>>} */
  const merged = {};
  for (const [backend, list] of Object.entries(runs)) if (list?.length) merged[backend] = combineLatencyRuns(list);
  const same = merged.same;
  /** @param {string} backend @param {'p50Ms' | 'p99Ms'} field */
  const added = (backend, field) => {
    const x = merged[backend];
    // computed from invalid runs too (the result is then marked invalid, ⚠ in the report, with the reasons)
    return same && x && Number.isFinite(same[field]) && Number.isFinite(x[field])
      ? round3(x[field] - same[field])
      : NaN;
  };
  const reasons = Object.entries(merged).flatMap(([b, r]) => (r.valid ? [] : r.reasons.map((x) => `${b}: ${x}`)));
  const warnings = [
    ...Object.entries(merged).flatMap(([b, r]) => r.warnings.map((x) => `${b}: ${x}`)),
    ...Object.entries(skipped).map(([b, why]) => `${b}: not measured: ${why}`),
  ];
  /** @param {string} b */
  const brief = (b) => {
    const r = merged[b];
    return r ? { p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms, valid: r.valid, details: r.details } : null;
  };
  return {
    addedP50Ms: added('redis', 'p50Ms'),
    addedP99Ms: added('redis', 'p99Ms'),
    kafkaAddedP50Ms: added('kafka', 'p50Ms'),
    kafkaAddedP99Ms: added('kafka', 'p99Ms'),
    sameNodeP50Ms: merged.same?.p50Ms ?? NaN,
    sameNodeP99Ms: merged.same?.p99Ms ?? NaN,
    // a baseline that failed leaves nothing to compare with: that is invalid; a broker that is not there is a warning
    valid: reasons.length === 0 && Boolean(same),
    reasons: same ? reasons : ['no valid same-node baseline', ...reasons],
    warnings,
    details: { sameNode: brief('same'), redis: brief('redis'), kafka: brief('kafka'), skipped },
  };
}
