import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Kafka, type KafkaConfig, type LogEntry, logLevel as KafkaJsLogLevel, type SASLOptions } from 'kafkajs';

/** SASL credentials passed to kafkajs (`plain`, `scram-sha-256`, `scram-sha-512`; kafkajs's other mechanisms too). */
export type KafkaSaslOptions = SASLOptions;

/** How kafkajs's own log lines are shown. */
export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

/** Where to find Kafka and how to talk to it: shared by {@link KafkaBroker} and {@link KafkaBridge}. */
export interface KafkaConnectionOptions {
  /**
   * Bootstrap brokers as `host:port` (maps `KAFKA_BROKERS`, comma-separated).
   * @default ['127.0.0.1:9092']
   */
  brokers?: string[];
  /**
   * The client id Kafka sees in its logs and quotas (maps `KAFKA_CLIENT_ID`).
   * @default 'unisocket'
   */
  clientId?: string;
  /**
   * TLS: `true` for the system CAs, or Node `tls.connect` options (`ca`, `cert`, `key`, `servername`, …)
   * (maps `KAFKA_SSL=true`).
   * @default false
   */
  ssl?: boolean | TlsOptions;
  /**
   * SASL authentication, e.g. `{ mechanism: 'scram-sha-512', username, password }`. Use it with `ssl` outside a
   * trusted network: `plain` sends the password as is.
   */
  sasl?: KafkaSaslOptions;
  /**
   * How long to wait for a TCP (and TLS) connection to a broker, in ms.
   * @default 3_000
   */
  connectionTimeoutMs?: number;
  /**
   * How long to wait for the answer to one request, in ms.
   * @default 30_000
   */
  requestTimeoutMs?: number;
  /**
   * kafkajs's own log lines (to the console). Health changes and errors are reported through events either way.
   * @default 'nothing'
   */
  logLevel?: KafkaLogLevel;
  /** An existing kafkajs client to use instead of creating one (the connection options above are then ignored). */
  kafka?: Kafka;
}

const LOG_LEVELS: Record<KafkaLogLevel, KafkaJsLogLevel> = {
  nothing: KafkaJsLogLevel.NOTHING,
  error: KafkaJsLogLevel.ERROR,
  warn: KafkaJsLogLevel.WARN,
  info: KafkaJsLogLevel.INFO,
  debug: KafkaJsLogLevel.DEBUG,
};

/** Validates connection options and creates the kafkajs client (or returns the one given). */
export function createKafkaClient(options: KafkaConnectionOptions, what: string): Kafka {
  if (options.kafka !== undefined) {
    if (!(options.kafka instanceof Kafka)) throw new TypeError(`${what}: kafka must be a kafkajs Kafka instance`);
    return options.kafka;
  }
  return new Kafka(kafkaConfig(options, what));
}

/**
 * A client for liveness checks: the same connection as {@link createKafkaClient} but without retries, so a request
 * to a Kafka that refuses connections fails at once instead of after the retry policy (about 5 s). `undefined` when
 * an existing `kafka` client was given (its settings cannot be copied).
 */
export function createProbeClient(options: KafkaConnectionOptions, what: string): Kafka | undefined {
  if (options.kafka !== undefined) return undefined;
  return new Kafka({ ...kafkaConfig(options, what), retry: { retries: 0 } });
}

function kafkaConfig(options: KafkaConnectionOptions, what: string): KafkaConfig {
  const brokers = options.brokers ?? ['127.0.0.1:9092'];
  if (
    !Array.isArray(brokers) ||
    brokers.length === 0 ||
    brokers.some((b) => typeof b !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(b))
  ) {
    throw new TypeError(
      `${what}: brokers must be a non-empty array of "host:port" strings, got ${JSON.stringify(options.brokers)}`,
    );
  }
  const clientId = options.clientId ?? 'unisocket';
  if (typeof clientId !== 'string' || clientId.length === 0) {
    throw new TypeError(`${what}: clientId must be a non-empty string`);
  }
  const sasl = options.sasl;
  if (sasl !== undefined) {
    const mechanism = (sasl as { mechanism?: unknown }).mechanism;
    if (typeof mechanism !== 'string') {
      throw new TypeError(
        `${what}: sasl needs a mechanism: 'plain', 'scram-sha-256' or 'scram-sha-512' (or another kafkajs mechanism)`,
      );
    }
    if (['plain', 'scram-sha-256', 'scram-sha-512'].includes(mechanism)) {
      const { username, password } = sasl as { username?: unknown; password?: unknown };
      if (typeof username !== 'string' || typeof password !== 'string') {
        throw new TypeError(`${what}: sasl mechanism '${mechanism}' needs a username and a password (strings)`);
      }
    }
  }
  const level = options.logLevel ?? 'nothing';
  if (!(level in LOG_LEVELS)) {
    throw new TypeError(
      `${what}: logLevel must be one of ${Object.keys(LOG_LEVELS).join(', ')}, got ${JSON.stringify(level)}`,
    );
  }
  const config: KafkaConfig = {
    brokers,
    clientId,
    connectionTimeout: positive(options.connectionTimeoutMs ?? 3_000, 'connectionTimeoutMs', what),
    requestTimeout: positive(options.requestTimeoutMs ?? 30_000, 'requestTimeoutMs', what),
    logLevel: LOG_LEVELS[level],
    logCreator: consoleLogCreator,
    // one policy for admin calls; producers and consumers set their own
    retry: { initialRetryTime: 200, maxRetryTime: 2_000, retries: 5 },
  };
  if (options.ssl !== undefined && options.ssl !== false) config.ssl = options.ssl;
  if (sasl !== undefined) config.sasl = sasl;
  return config;
}

function positive(value: number, name: string, what: string): number {
  if (!Number.isInteger(value) || value <= 0)
    throw new TypeError(`${what}: ${name} must be a positive integer, got ${String(value)}`);
  return value;
}

const consoleLogCreator =
  () =>
  (entry: LogEntry): void => {
    const { message, ...extra } = entry.log;
    const line = `[kafkajs ${entry.namespace}] ${message} ${JSON.stringify(extra)}`;
    if (entry.level <= KafkaJsLogLevel.ERROR) console.error(line);
    else if (entry.level === KafkaJsLogLevel.WARN) console.warn(line);
    else console.log(line);
  };

/** kafkajs errors carry a `type` (the Kafka error name) for protocol errors. */
export function kafkaErrorType(error: unknown): string | undefined {
  let e = error as { type?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (typeof e.type === 'string') return e.type;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** A one-line description of an error and its causes. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error && !error.message.includes(cause.message)
    ? `${error.message}: ${cause.message}`
    : error.message;
}

/**
 * Consumer settings that ride out a Kafka restart. kafkajs retries a failing fetch loop forever with the same group
 * member (no "crash" and restart as a new member, which would leave the old member in the group until its session
 * times out and hold the rebalance that long); a short session bounds how long a vanished member delays the others.
 */
export const CONSUMER_RESILIENCE = {
  sessionTimeout: 10_000,
  heartbeatInterval: 2_000,
  retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 2_000 },
} as const;

/**
 * Runs `attempt` until it succeeds, retrying errors Kafka calls retriable (a coordinator still loading, a leader
 * moving, a connection refused) with a growing pause, until `deadline` (epoch ms). Other errors fail at once.
 */
export async function retrying<T>(attempt: () => Promise<T>, deadline: number): Promise<T> {
  for (let pause = 100; ; pause = Math.min(pause * 2, 1_000)) {
    try {
      return await attempt();
    } catch (error) {
      if (!isRetriable(error) || Date.now() + pause > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

function isRetriable(error: unknown): boolean {
  const e = error as { retriable?: unknown; name?: unknown; cause?: unknown } | undefined;
  if (e === undefined || e === null) return false;
  if (e.retriable === true || e.name === 'KafkaJSNumberOfRetriesExceeded') return true;
  return e.cause !== undefined && e.cause !== error && isRetriable(e.cause);
}
