#!/usr/bin/env node
// Starts what is not already running, waits until it is ready, and says what it did and how long it took.
import { parseFlags, say, fail } from './cli.mjs';
import { HOST, KAFKA_VERSIONS, formatMs, msSince } from '../src/config.mjs';
import { ensureKafka } from '../src/kafka.mjs';
import { ensureRedis } from '../src/redis.mjs';

const flags = parseFlags(
  `usage: node tooling/services/bin/up.mjs [--redis] [--kafka]   (default: both)
Starts Redis on 127.0.0.1:$REDIS_PORT (6379) and a Kafka ${KAFKA_VERSIONS[0]} KRaft broker on 127.0.0.1:$KAFKA_PORT (9092)
unless they already answer. Safe to run again.`,
  ['--redis', '--kafka'],
);

if (flags.redis) {
  const started = performance.now();
  try {
    const redis = await ensureRedis({ log: (line) => say('redis', line) });
    const took = formatMs(msSince(started));
    say(
      'redis',
      redis.started
        ? `started ${redis.url} (pid ${redis.pid}) in ${took}`
        : `already running at ${redis.url} (reused; checked in ${took})`,
    );
  } catch (err) {
    fail('redis', err);
  }
}

if (flags.kafka) {
  const started = performance.now();
  try {
    const kafka = await ensureKafka({ log: (line) => say('kafka', line) });
    const took = formatMs(msSince(started));
    if (kafka.started) {
      const t = kafka.timings;
      const phases = [
        t.downloadMs !== undefined && `jar download ${formatMs(t.downloadMs)}`,
        t.formatMs !== undefined && `storage format ${formatMs(t.formatMs)}`,
        `start until ready ${formatMs(t.startMs)}`,
      ].filter(Boolean);
      say(
        'kafka',
        `started Kafka ${kafka.version} at ${kafka.brokers[0]} (pid ${kafka.pid}) in ${took}: ${phases.join(', ')}`,
      );
    } else {
      say('kafka', `already running at ${kafka.brokers[0] ?? HOST} (reused; checked in ${took})`);
    }
  } catch (err) {
    fail('kafka', err);
  }
}
