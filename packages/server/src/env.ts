import type { BatchOptions } from '@unisocket/core';
import type { MemoryThresholds } from '@unisocket/memory';
import { envNames, markFromEnvironment } from './compat';
import type {
  BrokerConfig,
  DedupeOptions,
  MemoryOptions,
  ServiceLimits,
  UnifiedWebSocketServiceOptions,
} from './options';
import {
  LIFECYCLE_EVENTS,
  type LifecycleEventName,
  MIN_WEBHOOK_SECRET_LENGTH,
  type WebhookEndpointOptions,
} from './webhooks';
import { MIN_ADMIN_TOKEN_LENGTH } from './admin/options';

/** What {@link optionsFromEnv} read, for a standalone server or the demo app. */
export interface EnvConfig {
  /** The HTTP port (`PORT`). @default 3000 */
  port: number;
  /** The service options the variables describe. */
  options: UnifiedWebSocketServiceOptions;
  /** Variables that were read, for a startup log line (secrets masked). */
  used: Record<string, string>;
}

/**
 * The environment variables unisocket understands, and what they map to. Unknown variables are ignored;
 * a variable with a bad value throws a `TypeError` naming it.
 *
 * | variable | option | note |
 * |---|---|---|
 * | `PORT` | HTTP port | default 3000 |
 * | `NODE_ID` | `nodeId` | |
 * | `BROKER` | `broker.type` | `memory` (default), `redis`, `kafka` |
 * | `REDIS_URL` | `broker.url` (redis) | default `redis://127.0.0.1:6379` |
 * | `REDIS_KEY_PREFIX` | `broker.keyPrefix` (redis) | default `unisocket:`; several apps on one Redis |
 * | `KAFKA_BROKERS` | `broker.brokers` (kafka) | comma-separated, default `127.0.0.1:9092` |
 * | `KAFKA_CLIENT_ID` | `broker.clientId` (kafka) | |
 * | `KAFKA_TOPIC` | `broker.topic` (kafka) | default `unisocket.messages` |
 * | `KAFKA_SSL` | `broker.ssl` (kafka) | `true` for TLS with the system CAs |
 * | `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD` | `broker.sasl` (kafka) | `plain`, `scram-sha-256`, `scram-sha-512` |
 * | `API_KEY` | `http.apiKey` | the demo defaults it to `demo-key` outside production |
 * | `CORS_ORIGIN` | `http.cors.origin` | `*`, an origin or a comma-separated list; CORS is off without it |
 * | `WS_PATH` | `path` | default `/ws` |
 * | `WS_MAX_CONNECTIONS` (or `WEBSOCKET_MAX_CONNECTIONS`) | `limits.maxConnections` | |
 * | `WS_HEARTBEAT_INTERVAL` (or `WEBSOCKET_HEARTBEAT_INTERVAL`) | `heartbeatMs` | |
 * | `MESSAGE_BATCH_SIZE` | `batch.maxMessages` | messages per frame |
 * | `MESSAGE_BATCH_DELAY` | `batch.delayMs` | 0 = flush at the end of the event-loop turn |
 * | `HISTORY_SIZE`, `HISTORY_TTL_MS` | `history.size`, `history.ttlMs` | |
 * | `DEDUPE_CACHE_SIZE` | `dedupe.deliveredIds` and `dedupe.idempotencyKeys` | delivered message ids and publish idempotency keys remembered |
 * | `DEDUPE_WINDOW` | `dedupe.idempotencyWindowMs` | how long a publish idempotency key is remembered, ms |
 * | `MEMORY_WARNING_THRESHOLD`, `MEMORY_CRITICAL_THRESHOLD`, `MEMORY_EMERGENCY_THRESHOLD` | `memory.thresholds.*` | percent of the heap limit (70 / 85 / 95) |
 * | `MEMORY_CHECK_INTERVAL` | `memory.sampleIntervalMs` | default 5000 |
 * | `WEBHOOK_URL` | `webhooks[].url` | one http(s) URL or a comma-separated list: one endpoint each |
 * | `WEBHOOK_EVENTS` | `webhooks[].events` | comma-separated lifecycle event names; default occupied, vacated, member added/removed, cache miss |
 * | `WEBHOOK_SECRET`, `WEBHOOK_KEY` | `webhooks[].secret`, `webhooks[].key` | default: the first Pusher app's; required without the Pusher transport |
 * | `ADMIN_TOKEN` | `admin.token` | at least 16 characters; turns the admin inspector on at `/admin` |
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const used: Record<string, string> = {};
  const read = (name: string): string | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    used[name] = /KEY|SECRET|PASSWORD|TOKEN/i.test(name) ? '***' : value;
    return value;
  };
  const int = (names: string[], min: number): number | undefined => {
    for (const name of names) {
      const value = read(name);
      if (value === undefined) continue;
      const n = Number(value);
      if (!Number.isInteger(n) || n < min) {
        throw new TypeError(`environment variable ${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
      }
      return n;
    }
    return undefined;
  };

  const options: UnifiedWebSocketServiceOptions = {};
  const port = int(['PORT'], 0) ?? 3000;
  if (port > 65535) throw new TypeError(`environment variable PORT must be at most 65535, got ${port}`);

  const nodeId = read('NODE_ID');
  if (nodeId !== undefined) options.nodeId = nodeId;
  const path = read('WS_PATH');
  if (path !== undefined) options.path = path;

  const brokerType = read('BROKER') ?? 'memory';
  let broker: BrokerConfig;
  switch (brokerType) {
    case 'memory':
      broker = { type: 'memory' };
      break;
    case 'redis':
      broker = { type: 'redis', url: read('REDIS_URL') ?? 'redis://127.0.0.1:6379' };
      {
        const keyPrefix = read('REDIS_KEY_PREFIX');
        if (keyPrefix !== undefined) broker.keyPrefix = keyPrefix;
      }
      break;
    case 'kafka': {
      const brokers = (read('KAFKA_BROKERS') ?? '127.0.0.1:9092')
        .split(',')
        .map((b) => b.trim())
        .filter((b) => b.length > 0);
      broker = { type: 'kafka', brokers };
      const clientId = read('KAFKA_CLIENT_ID');
      if (clientId !== undefined) broker.clientId = clientId;
      const topic = read('KAFKA_TOPIC');
      if (topic !== undefined) broker.topic = topic;
      const ssl = read('KAFKA_SSL');
      if (ssl !== undefined) {
        if (ssl !== 'true' && ssl !== 'false') {
          throw new TypeError(`environment variable KAFKA_SSL must be true or false, got ${JSON.stringify(ssl)}`);
        }
        if (ssl === 'true') broker.ssl = true;
      }
      const mechanism = read('KAFKA_SASL_MECHANISM');
      if (mechanism !== undefined) {
        if (!['plain', 'scram-sha-256', 'scram-sha-512'].includes(mechanism)) {
          throw new TypeError(
            `environment variable KAFKA_SASL_MECHANISM must be plain, scram-sha-256 or scram-sha-512, got ${JSON.stringify(mechanism)}`,
          );
        }
        const username = read('KAFKA_SASL_USERNAME');
        const password = read('KAFKA_SASL_PASSWORD');
        if (username === undefined || password === undefined) {
          throw new TypeError('KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
        }
        broker.sasl = { mechanism, username, password };
      }
      break;
    }
    default:
      throw new TypeError(
        `environment variable BROKER must be memory, redis or kafka, got ${JSON.stringify(brokerType)}`,
      );
  }
  options.broker = broker;

  const apiKey = read('API_KEY');
  if (apiKey !== undefined) options.http = { apiKey };
  const corsOrigin = read('CORS_ORIGIN');
  if (corsOrigin !== undefined) options.http = { ...options.http, cors: { origin: corsOrigin } };

  const limits: Partial<ServiceLimits> = {};
  const maxConnections = int(envNames('WS_MAX_CONNECTIONS'), 1);
  if (maxConnections !== undefined) limits.maxConnections = maxConnections;
  if (Object.keys(limits).length > 0) options.limits = limits;

  const heartbeatMs = int(envNames('WS_HEARTBEAT_INTERVAL'), 1);
  if (heartbeatMs !== undefined) options.heartbeatMs = heartbeatMs;

  const batch: Partial<BatchOptions> = {};
  const batchSize = int(['MESSAGE_BATCH_SIZE'], 1);
  if (batchSize !== undefined) batch.maxMessages = batchSize;
  const batchDelay = int(['MESSAGE_BATCH_DELAY'], 0);
  if (batchDelay !== undefined) batch.delayMs = batchDelay;
  if (Object.keys(batch).length > 0) options.batch = batch;

  // the variables keep the option names they were documented with (dedupe.cacheSize sets deliveredIds and
  // idempotencyKeys, dedupe.windowMs is idempotencyWindowMs); the factory does not warn about names the environment chose
  const dedupe: DedupeOptions = {};
  const dedupeCacheSize = int(['DEDUPE_CACHE_SIZE'], 1);
  if (dedupeCacheSize !== undefined) dedupe.cacheSize = dedupeCacheSize;
  const dedupeWindow = int(['DEDUPE_WINDOW'], 1);
  if (dedupeWindow !== undefined) dedupe.windowMs = dedupeWindow;
  if (Object.keys(dedupe).length > 0) {
    markFromEnvironment(dedupe);
    options.dedupe = dedupe;
  }

  const memory: MemoryOptions = {};
  const thresholds: Partial<MemoryThresholds> = {};
  for (const level of ['warning', 'critical', 'emergency'] as const) {
    const name = `MEMORY_${level.toUpperCase()}_THRESHOLD`;
    const value = read(name);
    if (value === undefined) continue;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || n > 100) {
      throw new TypeError(
        `environment variable ${name} must be a percentage in (0, 100], got ${JSON.stringify(value)}`,
      );
    }
    thresholds[level] = n;
  }
  if (Object.keys(thresholds).length > 0) memory.thresholds = thresholds;
  const memoryInterval = int(['MEMORY_CHECK_INTERVAL'], 1);
  if (memoryInterval !== undefined) memory.sampleIntervalMs = memoryInterval;
  if (Object.keys(memory).length > 0) options.memory = memory;

  const historySize = int(['HISTORY_SIZE'], 0);
  const historyTtl = int(['HISTORY_TTL_MS'], 1);
  if (historySize !== undefined || historyTtl !== undefined) {
    options.history = {
      ...(historySize === undefined ? {} : { size: historySize }),
      ...(historyTtl === undefined ? {} : { ttlMs: historyTtl }),
    };
  }
  const adminToken = read('ADMIN_TOKEN');
  if (adminToken !== undefined) {
    if (adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
      throw new TypeError(`environment variable ADMIN_TOKEN must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
    }
    options.admin = { token: adminToken };
  }
  const webhooks = webhooksFromEnv(read);
  if (webhooks !== undefined) options.webhooks = webhooks;
  return { port, options, used };
}

/** `WEBHOOK_*`: one endpoint per URL of `WEBHOOK_URL`, sharing the events and signing credentials. */
function webhooksFromEnv(read: (name: string) => string | undefined): WebhookEndpointOptions[] | undefined {
  const list = (value: string): string[] =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
  const urlValue = read('WEBHOOK_URL');
  const eventsValue = read('WEBHOOK_EVENTS');
  const secret = read('WEBHOOK_SECRET');
  const key = read('WEBHOOK_KEY');
  if (urlValue === undefined) {
    const orphan = [
      ['WEBHOOK_EVENTS', eventsValue],
      ['WEBHOOK_SECRET', secret],
      ['WEBHOOK_KEY', key],
    ].find(([, value]) => value !== undefined);
    if (orphan !== undefined) throw new TypeError(`environment variable ${orphan[0]} needs WEBHOOK_URL (the endpoint)`);
    return undefined;
  }
  const urls = list(urlValue);
  if (urls.length === 0) throw new TypeError('environment variable WEBHOOK_URL must hold at least one http(s) URL');
  for (const url of urls) {
    let protocol: string | undefined;
    try {
      protocol = new URL(url).protocol;
    } catch {}
    if (protocol !== 'http:' && protocol !== 'https:') {
      throw new TypeError(
        `environment variable WEBHOOK_URL must be http(s) URLs separated by commas, got ${JSON.stringify(url)}`,
      );
    }
  }
  let events: LifecycleEventName[] | undefined;
  if (eventsValue !== undefined) {
    const names = list(eventsValue);
    const unknown = names.find((name) => !(LIFECYCLE_EVENTS as readonly string[]).includes(name));
    if (names.length === 0 || unknown !== undefined) {
      throw new TypeError(
        `environment variable WEBHOOK_EVENTS must be a comma-separated list of ${LIFECYCLE_EVENTS.join(', ')}${unknown === undefined ? '' : `; ${JSON.stringify(unknown)} is not one`}`,
      );
    }
    events = names as LifecycleEventName[];
  }
  if (secret !== undefined && secret.length < MIN_WEBHOOK_SECRET_LENGTH) {
    throw new TypeError(`environment variable WEBHOOK_SECRET must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters`);
  }
  return urls.map((url) => ({
    url,
    ...(events === undefined ? {} : { events: [...events] }),
    ...(secret === undefined ? {} : { secret }),
    ...(key === undefined ? {} : { key }),
  }));
}
