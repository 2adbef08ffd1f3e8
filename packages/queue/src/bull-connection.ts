import { createRequire } from 'node:module';
import { redactUrl, unavailable } from './util';

/**
 * An ioredis client (a `Redis` or a `Cluster`) handed to {@link BullJobQueue}. The queue never uses it itself: it
 * makes its own connections with `duplicate()` (the producer's with `enableOfflineQueue: false`, the worker's with
 * `maxRetriesPerRequest: null`, as BullMQ needs) and closes them; the given client stays yours.
 */
export interface RedisClientLike {
  // a Redis takes (options), a Cluster (startupNodes, options)
  duplicate(...args: never[]): unknown;
  readonly options?:
    | {
        readonly host?: string | undefined;
        readonly port?: number | undefined;
        readonly keyPrefix?: string | undefined;
        readonly redisOptions?: object | undefined;
      }
    | undefined;
  /** `true` for an ioredis `Cluster`. */
  readonly isCluster?: boolean | undefined;
}

/** Where {@link BullJobQueue} finds Redis: a URL (`redis://…`, `rediss://…`) or an ioredis client to duplicate. */
export type BullConnection = { url: string } | RedisClientLike;

/** The part of an ioredis client the queue uses on the connections it makes. @internal */
export interface OwnedClient {
  connect(): Promise<void>;
  disconnect(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  zscore(key: string, member: string): Promise<string | null>;
  readonly status: string;
}

type RedisCtor = new (url: string, options: Record<string, unknown>) => OwnedClient;

/** The modules a BullJobQueue loads when it first connects (both optional peers of this package). @internal */
export interface BullModules {
  readonly bullmq: typeof import('bullmq');
  readonly Redis: RedisCtor;
}

const INSTALL_HINT =
  'BullJobQueue needs the optional packages bullmq (6.7.x) and ioredis (5.x): install them ' +
  '(`pnpm add bullmq ioredis`), or use a MemoryJobQueue (createJobQueue without redis; not durable)';

let loading: Promise<BullModules> | undefined;

/** `require` as seen from this module (tsup's shims give the CommonJS build its `import.meta.url`). */
const requireHere = createRequire(import.meta.url);

let installed: boolean | undefined;

/**
 * `true` when the optional peers a {@link BullJobQueue} needs (`bullmq` and `ioredis`) can be resolved from this
 * package, without loading them. Decided once per process.
 */
export function isBullInstalled(): boolean {
  if (installed === undefined) {
    try {
      requireHere.resolve('bullmq');
      requireHere.resolve('ioredis');
      installed = true;
    } catch {
      installed = false;
    }
  }
  return installed;
}

/**
 * Loads `bullmq` and `ioredis` (once per process).
 * @throws {UnisocketError} `UNAVAILABLE` saying what to install when either is missing
 * @internal
 */
export function loadBullModules(): Promise<BullModules> {
  loading ??= (async () => {
    try {
      const bullmq = await import('bullmq');
      const ioredis = (await import('ioredis')) as unknown as {
        Redis?: RedisCtor;
        default?: RedisCtor | { Redis?: RedisCtor };
      };
      const Redis = ioredis.Redis ?? (typeof ioredis.default === 'function' ? ioredis.default : ioredis.default?.Redis);
      if (Redis === undefined) throw new Error('ioredis has no Redis export');
      return { bullmq, Redis };
    } catch (error) {
      loading = undefined;
      throw unavailable(`${INSTALL_HINT} (${error instanceof Error ? error.message : String(error)})`, error);
    }
  })();
  return loading;
}

/**
 * Validates a {@link BullConnection}.
 * @throws {TypeError} saying what to change
 * @internal
 */
export function validateConnection(connection: unknown): BullConnection {
  if (typeof connection !== 'object' || connection === null) {
    throw new TypeError('connection must be { url: "redis://host:6379" } or an ioredis client');
  }
  if ('url' in connection && typeof (connection as { duplicate?: unknown }).duplicate !== 'function') {
    const { url } = connection as { url: unknown };
    if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
      throw new TypeError(`connection.url must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
    }
    return { url };
  }
  const client = connection as RedisClientLike;
  if (typeof client.duplicate !== 'function') {
    throw new TypeError('connection must be { url: "redis://host:6379" } or an ioredis client (with duplicate())');
  }
  if (client.options?.keyPrefix) {
    throw new TypeError(
      'the ioredis client has a keyPrefix, which BullMQ does not support: give the queue a prefix option instead',
    );
  }
  return client;
}

/** Where a connection points, for messages (the URL without its password). @internal */
export function describeConnection(connection: BullConnection): string {
  if ('url' in connection && typeof connection.url === 'string') return redactUrl(connection.url);
  const { host, port } = (connection as RedisClientLike).options ?? {};
  return host === undefined ? 'the given ioredis client' : `redis://${host}:${port ?? 6379} (the given ioredis client)`;
}

/**
 * A new connection of the queue's own, not connected yet (`lazyConnect`). `producer`: commands fail at once while
 * Redis is away (`enableOfflineQueue: false`, one retry, `commandTimeout`); `worker`: BullMQ's blocking settings
 * (`maxRetriesPerRequest: null`). Errors go to `onError`.
 * @internal
 */
export function createClient(
  modules: BullModules,
  connection: BullConnection,
  role: 'producer' | 'worker',
  timeoutMs: number,
  onError: (error: Error) => void,
): OwnedClient {
  const overrides: Record<string, unknown> =
    role === 'producer'
      ? {
          lazyConnect: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: timeoutMs,
          commandTimeout: timeoutMs,
        }
      : { lazyConnect: true, maxRetriesPerRequest: null, connectTimeout: timeoutMs };
  let client: OwnedClient;
  if ('url' in connection && typeof connection.url === 'string') {
    client = new modules.Redis(connection.url, overrides);
  } else {
    const given = connection as RedisClientLike;
    const duplicate = given.duplicate as (...args: unknown[]) => OwnedClient;
    if (given.isCluster === true) {
      // a Cluster: the per-node settings go in redisOptions
      const { lazyConnect, enableOfflineQueue, ...perNode } = overrides;
      client = duplicate.call(given, [], {
        lazyConnect,
        ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
        redisOptions: { ...given.options?.redisOptions, ...perNode },
      });
    } else {
      client = duplicate.call(given, overrides);
    }
  }
  client.on('error', onError);
  return client;
}
