/** Receives one progress line (jar download, apt-get install, waiting for a starting broker). */
export type ServiceLog = (line: string) => void;

export interface EnsureOptions {
  /**
   * Where progress lines go.
   * @default writes `[unisocket services] …` lines to stderr
   */
  log?: ServiceLog;
}

export interface RedisEndpoint {
  /** `redis://127.0.0.1:<REDIS_PORT>` */
  url: string;
  port: number;
  /** True when this call started the server; false when one already answered PING. */
  started: boolean;
  /** PID of the redis-server this call started. */
  pid?: number;
}

export interface KafkaEndpoint {
  /** `['127.0.0.1:<KAFKA_PORT>']`, ready for `new Kafka({ brokers })`. */
  brokers: string[];
  /** True when this call started the broker; false when one already answered. */
  started: boolean;
  /** Kafka version of the broker this call started (or waited for). */
  version?: string;
  pid?: number;
  /** How long each phase of a start took, in milliseconds. */
  timings?: { downloadMs?: number; formatMs?: number; startMs?: number };
}

/**
 * Makes sure a Redis answers PING at 127.0.0.1:REDIS_PORT (default 6379). Reuses a running one;
 * otherwise starts a daemonized `redis-server` that persists nothing (installing Debian's
 * `redis-server` first when it is missing and the process runs as root). `pnpm services:down` stops it.
 */
export function ensureRedis(options?: EnsureOptions): Promise<RedisEndpoint>;

/**
 * Makes sure a Kafka 3.9 KRaft broker answers at 127.0.0.1:KAFKA_PORT (default 9092). Reuses a running
 * one; otherwise fetches the jars with Maven (first time only), formats storage (first time only) and
 * starts a detached JVM that outlives this process. `pnpm services:down` or {@link stopKafka} stops it.
 * Sets `KAFKAJS_NO_PARTITIONER_WARNING=1` when unset.
 */
export function ensureKafka(options?: EnsureOptions): Promise<KafkaEndpoint>;

/** Alias of {@link ensureKafka}, to read well next to {@link stopKafka} and {@link restartKafka}. */
export function startKafka(options?: EnsureOptions): Promise<KafkaEndpoint>;

/**
 * Stops the broker that `up`/{@link ensureKafka} started on KAFKA_PORT (SIGTERM, SIGKILL after 60 s).
 * Resolves at once when none runs; rejects for a broker this package did not start.
 */
export function stopKafka(): Promise<void>;

/**
 * Stops the broker and starts it again on the same log dir (topics and committed offsets survive);
 * resolves once it answers. For tests of reconnect behaviour. Rejects for a broker this package did not start.
 */
export function restartKafka(options?: EnsureOptions): Promise<void>;

export type ServiceName = 'redis' | 'kafka';

/**
 * For a suite that needs a real service; starts nothing. Resolves `true` when the service answers.
 * When it does not: with `CI=true` rejects with an error that says how to start it; otherwise prints
 * one `[unisocket] SKIPPED: …` line to stderr and resolves `false`.
 *
 * @example
 * const kafka = await requireService('kafka');
 * describe.skipIf(!kafka)('KafkaBroker (integration)', () => { … });
 */
export function requireService(name: ServiceName): Promise<boolean>;

export interface StartRedisServerOptions {
  /**
   * Port to listen on.
   * @default a free port chosen by the OS
   */
  port?: number;
}

/** A private redis-server owned by the calling process. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`; the same after {@link RedisServer.restart}. */
  readonly url: string;
  readonly port: number;
  /** PID of the running redis-server; undefined while it is down. */
  readonly pid: number | undefined;
  /** Shuts it down (SIGTERM, SIGKILL after 5 s) and removes its working dir. */
  stop(): Promise<void>;
  /** Sends `signal` and returns at once, like a crash; follow with {@link RedisServer.restart}. */
  kill(signal?: NodeJS.Signals): void;
  /** Stops it if it still runs, then starts a fresh, empty server on the same port; resolves when it answers. */
  restart(): Promise<void>;
}

/**
 * Starts a private redis-server (nothing persisted) that a test may kill and restart mid-stream.
 * It is killed when the process exits, or on SIGINT/SIGTERM/SIGHUP when nothing else handles them.
 */
export function startRedisServer(options?: StartRedisServerOptions): Promise<RedisServer>;

/** A TCP port on 127.0.0.1 that was free when asked (another process can still take it). */
export function freePort(): Promise<number>;

/**
 * The Kafka brokers every suite connects to, and the address {@link requireService}('kafka') checks:
 * `KAFKA_BROKERS` (comma-separated) when set, else `['127.0.0.1:<KAFKA_PORT>']` (default 9092).
 */
export function kafkaBrokers(): string[];

/**
 * For a suite that starts a private server of its own (a broker it stops and restarts). Resolves `true` unless
 * `UNISOCKET_SERVICES=off`; then nothing may be started, so it follows {@link requireService}'s rule for a missing
 * service: with `CI=true` rejects, otherwise one `[unisocket] SKIPPED: …` line and `false`.
 */
export function mayStartPrivate(name: ServiceName): Promise<boolean>;

/**
 * Deletes every key under each `test:` prefix (SCAN + DEL) on the shared Redis (`url`, else `REDIS_URL`, else
 * 127.0.0.1:REDIS_PORT) and resolves how many were deleted; 0 when Redis does not answer. Throws for a prefix
 * outside `test:`. For a suite's afterAll.
 */
export function deleteRedisKeys(prefixes: string | readonly string[], options?: { url?: string }): Promise<number>;

export * from './redis-cluster.mjs';
export * from './kafka-cluster.mjs';
