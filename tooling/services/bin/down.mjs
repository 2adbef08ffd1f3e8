#!/usr/bin/env node
// Stops only what `up` started (by the PIDs it recorded); a Redis or Kafka it did not start is left alone.
import fs from 'node:fs';
import { parseFlags, say, fail } from './cli.mjs';
import { HOST, formatMs, kafkaPort, redisPort, stateDir } from '../src/config.mjs';
import { kafkaAnswers, purgeKafka, recordedKafkaPorts, stopRecordedKafka } from '../src/kafka.mjs';
import { pingRedis, purgeRedis, recordedRedisPorts, stopRedis } from '../src/redis.mjs';

const flags = parseFlags(
  `usage: node tooling/services/bin/down.mjs [--redis] [--kafka] [--all] [--purge]   (default: both)
Stops the Redis and the Kafka broker that up started on REDIS_PORT/KAFKA_PORT (6379/9092); a server
it did not start is left alone. --all stops every one up ever recorded, whatever the port.
--purge also deletes their state (Kafka's topics and offsets, logs, configs) under ${stateDir()}.`,
  ['--redis', '--kafka', '--all', '--purge'],
);

// Only the configured port by default: another port's broker may belong to a test run in progress.
const ports = (recorded, current) =>
  flags.all ? [...new Set([current, ...recorded])].sort((a, b) => a - b) : [current];

if (flags.kafka) {
  for (const port of ports(recordedKafkaPorts(), kafkaPort())) {
    try {
      const result = await stopRecordedKafka(port);
      if (result.pid !== undefined)
        say('kafka', `stopped ${HOST}:${port} (pid ${result.pid}, ${result.how}) in ${formatMs(result.ms)}`);
      else if (await kafkaAnswers(port)) say('kafka', `${HOST}:${port} was not started by up; left running`);
      else say('kafka', `nothing running on ${HOST}:${port}`);
      if (flags.purge) {
        purgeKafka(port);
        say('kafka', `purged the state of ${HOST}:${port}`);
      }
    } catch (err) {
      fail('kafka', err);
    }
  }
}

if (flags.redis) {
  for (const port of ports(recordedRedisPorts(), redisPort())) {
    try {
      const pid = await stopRedis({ port });
      if (pid !== undefined) say('redis', `stopped ${HOST}:${port} (pid ${pid})`);
      else if ((await pingRedis(port)) !== undefined)
        say('redis', `${HOST}:${port} was not started by up; left running`);
      else say('redis', `nothing running on ${HOST}:${port}`);
      if (flags.purge) purgeRedis(port);
    } catch (err) {
      fail('redis', err);
    }
  }
}

if (flags.purge && flags.all && flags.redis && flags.kafka) fs.rmSync(stateDir(), { recursive: true, force: true });
