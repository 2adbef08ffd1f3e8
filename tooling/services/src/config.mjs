import os from 'node:os';
import path from 'node:path';

export const HOST = '127.0.0.1';

/** Tried in order; 3.9.1 first (kafkajs 2.2.4 is proven against the 3.x protocol), 3.9.0 if it cannot be fetched. */
export const KAFKA_VERSIONS = ['3.9.1', '3.9.0'];

/** Jars are large and shared by every checkout, so they live in the user cache, never in the repo. */
export function cacheDir() {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'unisocket');
}

/** PID files, configs, Kafka's log dir and logs: survive reboots of the tools, not worth backing up. */
export function stateDir() {
  return path.join(process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'unisocket', 'services');
}

function portFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(
      `${name}=${JSON.stringify(raw)} is not a TCP port; set it to a number from 1 to 65535 or unset it`,
    );
  }
  return port;
}

export const redisPort = () => portFromEnv('REDIS_PORT', 6379);
export const kafkaPort = () => portFromEnv('KAFKA_PORT', 9092);
/**
 * The Kafka brokers every test suite and the availability check use: `KAFKA_BROKERS` (comma-separated) when set,
 * else `127.0.0.1:<KAFKA_PORT>` (default 9092). One place, so a suite never talks to a broker other than the one checked.
 */
export function kafkaBrokers() {
  const raw = process.env.KAFKA_BROKERS;
  const list = (raw ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  return list.length > 0 ? list : [`${HOST}:${kafkaPort()}`];
}

/** `UNISOCKET_SERVICES=off`: no test run, globalSetup or suite starts a Redis or a Kafka (private ones included). */
export const servicesOff = () => process.env.UNISOCKET_SERVICES === 'off';

/** The KRaft controller listener; defaults to the broker port + 1 so two brokers on different ports never collide. */
export const kafkaControllerPort = (port = kafkaPort()) => portFromEnv('KAFKA_CONTROLLER_PORT', port + 1);

export function msSince(start) {
  return Math.round(performance.now() - start);
}

export function formatMs(ms) {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Progress lines go to stderr so they never mix with a test reporter's stdout. Pass `{ log: () => {} }` to mute. */
export function defaultLog(line) {
  process.stderr.write(`[unisocket services] ${line}\n`);
}
