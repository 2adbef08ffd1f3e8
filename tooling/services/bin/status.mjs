#!/usr/bin/env node
// Prints what runs, who started it and where its logs are. Starts nothing.
import { parseFlags, say } from './cli.mjs';
import { HOST, KAFKA_VERSIONS, cacheDir, kafkaPort, redisPort, stateDir } from '../src/config.mjs';
import { cachedKafka, kafkaStatus, recordedKafkaPorts } from '../src/kafka.mjs';
import { pingRedis, recordedRedisPid, recordedRedisPorts } from '../src/redis.mjs';

const flags = parseFlags('usage: node tooling/services/bin/status.mjs [--redis] [--kafka]   (default: both)', [
  '--redis',
  '--kafka',
]);
const ports = (recorded, current) => [...new Set([current, ...recorded])].sort((a, b) => a - b);

if (flags.redis) {
  for (const port of ports(recordedRedisPorts(), redisPort())) {
    const reply = await pingRedis(port);
    const pid = await recordedRedisPid(port);
    const owner = pid !== undefined ? `started by up, pid ${pid}` : 'not started by up';
    if (reply === '+PONG') say('redis', `${HOST}:${port}  up (${owner})`);
    else if (reply !== undefined) say('redis', `${HOST}:${port}  answers "${reply}" (${owner})`);
    else if (port === redisPort()) say('redis', `${HOST}:${port}  down`);
  }
}

if (flags.kafka) {
  for (const port of ports(recordedKafkaPorts(), kafkaPort())) {
    const s = await kafkaStatus(port);
    const owner = s.pid !== undefined ? `Kafka ${s.version}, started by up, pid ${s.pid}` : 'not started by up';
    if (s.ready) say('kafka', `${HOST}:${port}  ready (${owner})`);
    else if (s.pid !== undefined)
      say('kafka', `${HOST}:${port}  starting or hung (${owner}); see ${s.paths.serverLog}`);
    else if (port === kafkaPort()) say('kafka', `${HOST}:${port}  down`);
    if (s.pid !== undefined) say('', `log: ${s.paths.serverLog}`);
  }
  const jars = cachedKafka();
  say(
    'jars',
    jars
      ? `Kafka ${jars.version} cached in ${jars.libs}`
      : `not cached yet (up fetches Kafka ${KAFKA_VERSIONS[0]} into ${cacheDir()})`,
  );
}
say('state', stateDir());
