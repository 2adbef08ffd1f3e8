import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type BrokerConfig,
  type TransportName,
  type UnifiedWebSocketServiceOptions,
  optionsFromEnv,
} from '@unisocket/server';
import { CliError, ExitCode, messageOf } from './errors';
import { parseBoolean, parseInteger, parseList } from './parse';

/** The flags `unisocket start` and `unisocket check` accept (already parsed). Each one overrides its variable. */
export interface ServerFlags {
  /** `--config <file>`: the factory's options as JSON (plus `port`, `host`, `workers`). */
  config?: string;
  /** `--port <n>` (`PORT`). */
  port?: number;
  /** `--host <h>` (`HOST`). */
  host?: string;
  /** `--broker memory|redis|kafka` (`BROKER`). */
  broker?: 'memory' | 'redis' | 'kafka';
  /** `--redis-url <url>` (`REDIS_URL`). */
  redisUrl?: string;
  /** `--redis-key-prefix <prefix>` (`REDIS_KEY_PREFIX`). */
  redisKeyPrefix?: string;
  /** `--kafka-brokers <host:port,…>` (`KAFKA_BROKERS`). */
  kafkaBrokers?: string[];
  /** `--path <path>` (`WS_PATH`). */
  path?: string;
  /** `--workers <n>` (`WORKERS`). */
  workers?: number;
  /** `--node-id <id>` (`NODE_ID`). */
  nodeId?: string;
  /** `--api-key <key>` (`API_KEY`). */
  apiKey?: string;
  /** `--jwt-secret <secret>` (`JWT_SECRET`). */
  jwtSecret?: string;
  /** `--auth-required` (`AUTH_REQUIRED=true`). */
  authRequired?: boolean;
  /** `--cors-origin <origin>` (`CORS_ORIGIN`). */
  corsOrigin?: string;
  /** `--transports native,socketio,pusher` (`TRANSPORTS`). */
  transports?: TransportName[];
  /** `--max-connections <n>` (`WS_MAX_CONNECTIONS`). */
  maxConnections?: number;
}

/** What {@link loadConfig} reads. */
export interface LoadConfigInput {
  /** The environment. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** The command-line flags (they win over the environment, which wins over the file). */
  flags?: ServerFlags;
  /** Where a relative config path is resolved. @default process.cwd() */
  cwd?: string;
}

/** A configuration merged from a config file, the environment and flags. */
export interface LoadedConfig {
  /** The options for `createUnifiedWebSocketService`. */
  options: UnifiedWebSocketServiceOptions;
  /** The HTTP port. @default 3000 */
  port: number;
  /** The interface to listen on. @default '0.0.0.0' */
  host: string;
  /** Worker processes (node:cluster); 1 runs the server in this process. @default 1 */
  workers: number;
  /** The config file that was read (absolute), if any. */
  file: string | undefined;
  /** What set the configuration, for the startup line: `NAME=value` and `--flag value`, secrets as `***`. */
  sources: string[];
}

/** Top-level keys a config file may hold besides the factory's options. */
const FILE_SERVER_KEYS = ['port', 'host', 'workers'] as const;

/** Variables read here besides those of `optionsFromEnv`. */
const CLI_VARIABLES = [
  'UNISOCKET_CONFIG',
  'HOST',
  'WORKERS',
  'JWT_SECRET',
  'AUTH_REQUIRED',
  'TRANSPORTS',
  'PUSHER_APP_ID',
  'PUSHER_APP_KEY',
  'PUSHER_APP_SECRET',
] as const;

const TRANSPORTS: readonly TransportName[] = ['native', 'socketio', 'pusher'];
const BROKERS = ['memory', 'redis', 'kafka'] as const;

const SECRET_NAME = /KEY|SECRET|PASSWORD|TOKEN/i;

/** `redis://user:pass@host` → `redis://user:***@host`; anything else unchanged. */
export function maskUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password === '') return value;
    url.password = '***';
    return url.toString().replace('%2A%2A%2A', '***');
  } catch {
    return value;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Merges option objects deeply, later ones winning: plain objects are merged key by key (`http.apiKey` from one and
 * `http.cors` from another both stay), anything else (arrays, strings, numbers) is replaced. An object present in
 * one source only is kept as it is.
 */
export function mergeOptions<T>(...layers: (T | undefined)[]): T {
  let out: unknown;
  for (const layer of layers) out = mergeTwo(out, layer);
  return out as T;
}

function mergeTwo(a: unknown, b: unknown): unknown {
  if (b === undefined) return a;
  if (a === undefined || !isPlainObject(a) || !isPlainObject(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) out[key] = mergeTwo(a[key], value);
  return out;
}

/**
 * Reads a config file: a JSON object holding the options of `createUnifiedWebSocketService` (functions aside), plus
 * optional `port`, `host` and `workers`. Unknown options are refused when the options are validated.
 *
 * @throws {CliError} when the file is missing, unreadable, not JSON or not an object (exit 1)
 */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `config file ${path} does not exist: create it (the options of createUnifiedWebSocketService as JSON) or drop --config`
        : `cannot read config file ${path}: ${messageOf(error)}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CliError(`config file ${path} is not valid JSON: ${messageOf(error)}`);
  }
  if (!isPlainObject(parsed)) {
    throw new CliError(`config file ${path} must hold a JSON object of options, e.g. {"broker":{"type":"redis"}}`);
  }
  return parsed;
}

/**
 * Builds the server's configuration from a config file, the environment and flags, in that order of precedence
 * (flags > env > file), merged deeply per option group (`http.apiKey` from the environment keeps `http.cors` from the
 * file). The environment is read by `optionsFromEnv` (see the @unisocket/server README) plus `HOST`, `WORKERS`,
 * `JWT_SECRET`, `AUTH_REQUIRED`, `TRANSPORTS`, `PUSHER_APP_ID`/`KEY`/`SECRET` and `UNISOCKET_CONFIG` (the config
 * file when `--config` is not given).
 *
 * - `JWT_SECRET` / `--jwt-secret` turns on JWT connection tokens: `auth.jwt.secret` (anonymous connections are still
 *   accepted unless `auth.required` is true: `AUTH_REQUIRED=true`, `--auth-required` or the file).
 * - `PUSHER_APP_*` set `pusher.apps`; with Pusher apps and no transports listed anywhere, the transports are
 *   `native` and `pusher`.
 * - The broker's settings of the file apply when the broker type stays the one the file names.
 *
 * Nothing is validated beyond the values read here; pass `options` to `resolveServiceOptions` for that.
 *
 * @example
 * ```ts
 * const config = loadConfig({ env: process.env, flags: { config: 'unisocket.config.json', port: 4000 } });
 * const server = await startServer(config);
 * ```
 * @throws {CliError} for a missing or malformed config file, or a bad variable (exit 1)
 */
export function loadConfig(input: LoadConfigInput = {}): LoadedConfig {
  const env = input.env ?? process.env;
  const flags = input.flags ?? {};
  const sources: string[] = [];
  const fail = (error: unknown): never => {
    throw error instanceof CliError ? error : new CliError(messageOf(error), ExitCode.FAILURE);
  };
  const envValue = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };

  // 1. the file
  const configPath = flags.config ?? envValue('UNISOCKET_CONFIG');
  let file: string | undefined;
  let fileOptions: Record<string, unknown> = {};
  const fileServer: { port?: number; host?: string; workers?: number } = {};
  if (configPath !== undefined) {
    file = resolve(input.cwd ?? process.cwd(), configPath);
    const raw = readConfigFile(file);
    for (const key of FILE_SERVER_KEYS) {
      const value = raw[key];
      if (value === undefined) continue;
      if (key === 'host') {
        if (typeof value !== 'string' || value === '')
          throw new CliError(`config file ${file}: host must be a non-empty string`);
        fileServer.host = value;
      } else {
        const max = key === 'port' ? 65535 : Number.MAX_SAFE_INTEGER;
        const min = key === 'port' ? 0 : 1;
        if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
          throw new CliError(
            `config file ${file}: ${key} must be an integer ${key === 'port' ? 'from 0 to 65535' : '>= 1'}, got ${JSON.stringify(value)}`,
          );
        }
        fileServer[key] = value;
      }
    }
    fileOptions = Object.fromEntries(
      Object.entries(raw).filter(([key]) => !(FILE_SERVER_KEYS as readonly string[]).includes(key)),
    );
    sources.push(`config ${configPath}`);
  }

  // 2. the environment: optionsFromEnv, with the broker type the flags or the file chose when BROKER is unset, so
  // REDIS_URL & co. apply to it; only what a variable set is taken (not optionsFromEnv's defaults)
  const fileBroker = isPlainObject(fileOptions.broker) ? (fileOptions.broker as Record<string, unknown>) : undefined;
  const fileBrokerType = typeof fileBroker?.type === 'string' ? fileBroker.type : undefined;
  const envBrokerType = envValue('BROKER');
  const brokerType = flags.broker ?? envBrokerType ?? fileBrokerType ?? 'memory';
  let fromEnv: ReturnType<typeof optionsFromEnv>;
  try {
    fromEnv = optionsFromEnv({
      ...env,
      BROKER: (BROKERS as readonly string[]).includes(brokerType) ? brokerType : (envBrokerType ?? 'memory'),
    });
  } catch (error) {
    return fail(error);
  }
  const used = { ...fromEnv.used };
  if (envBrokerType === undefined) delete used.BROKER;
  else used.BROKER = envBrokerType;
  const { broker: envBrokerDefaults, ...envOptions } = fromEnv.options;
  const envBroker: Record<string, unknown> = {};
  const brokerVars: Record<string, string> = {
    url: 'REDIS_URL',
    keyPrefix: 'REDIS_KEY_PREFIX',
    brokers: 'KAFKA_BROKERS',
    clientId: 'KAFKA_CLIENT_ID',
    topic: 'KAFKA_TOPIC',
    ssl: 'KAFKA_SSL',
    sasl: 'KAFKA_SASL_MECHANISM',
  };
  for (const [key, value] of Object.entries((envBrokerDefaults ?? {}) as Record<string, unknown>)) {
    const variable = brokerVars[key];
    if (variable !== undefined && used[variable] !== undefined) envBroker[key] = value;
  }

  const envExtra: UnifiedWebSocketServiceOptions = {};
  const readExtra = (name: (typeof CLI_VARIABLES)[number]): string | undefined => {
    const value = envValue(name);
    if (value !== undefined) used[name] = SECRET_NAME.test(name) ? '***' : value;
    return value;
  };
  readExtra('UNISOCKET_CONFIG');
  const envHost = readExtra('HOST');
  const workersValue = readExtra('WORKERS');
  const authRequiredValue = readExtra('AUTH_REQUIRED');
  const transportsValue = readExtra('TRANSPORTS');
  const envJwtSecret = readExtra('JWT_SECRET');
  const pusherId = readExtra('PUSHER_APP_ID');
  const pusherKey = readExtra('PUSHER_APP_KEY');
  const pusherSecret = readExtra('PUSHER_APP_SECRET');
  let envWorkers: number | undefined;
  try {
    if (workersValue !== undefined) envWorkers = parseInteger('environment variable WORKERS', workersValue, 1);
    if (authRequiredValue !== undefined) {
      envExtra.auth = { required: parseBoolean('environment variable AUTH_REQUIRED', authRequiredValue) };
    }
    if (transportsValue !== undefined) {
      envExtra.transports = parseTransports('environment variable TRANSPORTS', transportsValue);
    }
  } catch (error) {
    return fail(error);
  }
  if (pusherId !== undefined || pusherKey !== undefined || pusherSecret !== undefined) {
    if (pusherId === undefined || pusherKey === undefined || pusherSecret === undefined) {
      throw new CliError(
        'PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET go together: set all three (the Pusher app clients connect to)',
      );
    }
    envExtra.pusher = { apps: [{ id: pusherId, key: pusherKey, secret: pusherSecret }] };
  }
  for (const [name, value] of Object.entries(used)) sources.push(`${name}=${maskUrl(value)}`);

  // 3. the flags
  const flagOptions: UnifiedWebSocketServiceOptions = {};
  const flagBroker: Record<string, unknown> = {};
  const flag = (name: string, value: string | number | boolean | string[] | undefined, secret = false): void => {
    if (value === undefined) return;
    const shown = secret ? '***' : Array.isArray(value) ? value.join(',') : maskUrl(String(value));
    sources.push(value === true ? `--${name}` : `--${name} ${shown}`);
  };
  flag('port', flags.port);
  flag('host', flags.host);
  flag('broker', flags.broker);
  flag('redis-url', flags.redisUrl);
  flag('redis-key-prefix', flags.redisKeyPrefix);
  flag('kafka-brokers', flags.kafkaBrokers);
  flag('path', flags.path);
  flag('workers', flags.workers);
  flag('node-id', flags.nodeId);
  flag('api-key', flags.apiKey, true);
  flag('jwt-secret', flags.jwtSecret, true);
  flag('auth-required', flags.authRequired);
  flag('cors-origin', flags.corsOrigin);
  flag('transports', flags.transports);
  flag('max-connections', flags.maxConnections);
  if (flags.redisUrl !== undefined) flagBroker.url = flags.redisUrl;
  if (flags.redisKeyPrefix !== undefined) flagBroker.keyPrefix = flags.redisKeyPrefix;
  if (flags.kafkaBrokers !== undefined) flagBroker.brokers = flags.kafkaBrokers;
  if (flags.path !== undefined) flagOptions.path = flags.path;
  if (flags.nodeId !== undefined) flagOptions.nodeId = flags.nodeId;
  if (flags.apiKey !== undefined) flagOptions.http = { apiKey: flags.apiKey };
  if (flags.corsOrigin !== undefined) flagOptions.http = { ...flagOptions.http, cors: { origin: flags.corsOrigin } };
  if (flags.authRequired !== undefined) flagOptions.auth = { required: flags.authRequired };
  if (flags.transports !== undefined) flagOptions.transports = flags.transports;
  if (flags.maxConnections !== undefined) flagOptions.limits = { maxConnections: flags.maxConnections };
  const redisOnly = flags.redisUrl !== undefined || flags.redisKeyPrefix !== undefined;
  if (redisOnly && brokerType !== 'redis') {
    throw new CliError(
      `--redis-url and --redis-key-prefix apply to the Redis broker; the broker is ${brokerType}: add --broker redis`,
      ExitCode.USAGE,
    );
  }
  if (flags.kafkaBrokers !== undefined && brokerType !== 'kafka') {
    throw new CliError(
      `--kafka-brokers applies to the Kafka broker; the broker is ${brokerType}: add --broker kafka`,
      ExitCode.USAGE,
    );
  }

  // the layers, merged: file < env < flags
  const jwtSecret = flags.jwtSecret ?? envJwtSecret;
  const options = mergeOptions<UnifiedWebSocketServiceOptions>(
    fileOptions as UnifiedWebSocketServiceOptions,
    envOptions,
    envExtra,
    flagOptions,
    jwtSecret === undefined ? undefined : { auth: { jwt: { secret: jwtSecret } } },
  );
  // the broker: the file's settings when it names the same type, then the variables, then the flags
  const sameType = fileBroker !== undefined && (fileBrokerType ?? 'memory') === brokerType;
  options.broker = mergeOptions<BrokerConfig>(
    sameType ? (fileBroker as BrokerConfig) : undefined,
    { type: brokerType } as BrokerConfig,
    envBroker as BrokerConfig,
    flagBroker as BrokerConfig,
  );
  // optionsFromEnv's default for a Kafka broker that no source gave brokers to
  if (options.broker.type === 'kafka' && options.broker.brokers === undefined) {
    options.broker = { ...options.broker, brokers: ['127.0.0.1:9092'] };
  }
  if (
    options.transports === undefined &&
    options.adapter === undefined &&
    (options.pusher?.apps?.length ?? 0) > 0 &&
    fileOptions.transports === undefined
  ) {
    options.transports = ['native', 'pusher'];
  }

  const port = flags.port ?? (used.PORT === undefined ? undefined : fromEnv.port) ?? fileServer.port ?? 3000;
  const host = flags.host ?? envHost ?? fileServer.host ?? '0.0.0.0';
  const workers = flags.workers ?? envWorkers ?? fileServer.workers ?? 1;
  return { options, port, host, workers, file, sources };
}

/** `native,socketio` → the transport names, each known and listed once. */
export function parseTransports(name: string, value: string): TransportName[] {
  const list = parseList(name, value);
  for (const t of list) {
    if (!(TRANSPORTS as readonly string[]).includes(t)) {
      throw new TypeError(`${name}: unknown transport ${JSON.stringify(t)}; use ${TRANSPORTS.join(', ')}`);
    }
  }
  if (new Set(list).size !== list.length) throw new TypeError(`${name} lists a transport twice: ${value}`);
  return list as TransportName[];
}
