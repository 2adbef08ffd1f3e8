import { ErrorCode, UnisocketError } from '@unisocket/core';

/**
 * `@socket.io/redis-adapter` for the transport's `io` server, so that `io.to(room).emit`, `fetchSockets()` and
 * `serverSideEmit()` in the application's own Socket.IO code reach every node. unisocket's channels do not need it
 * (they cross nodes through the unisocket broker); it is for the Socket.IO API the service exposes as `service.io`.
 */
export interface RedisAdapterOptions {
  /**
   * The Redis URL (`redis://[:password@]host:port[/db]`, `rediss://` for TLS). The transport creates a publishing and
   * a subscribing `ioredis` client from it and closes them with the transport.
   */
  url?: string;
  /**
   * Your own clients instead of a URL (`ioredis` or `redis` v4+; the subscriber must be a dedicated connection).
   * The transport leaves them open when it closes.
   */
  pubClient?: unknown;
  subClient?: unknown;
  /**
   * Sharded Pub/Sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+: `createShardedAdapter`) or the classic adapter
   * (`PUBLISH`/`PSUBSCRIBE`: `createAdapter`). `'auto'` asks the server for its version and takes the sharded one
   * on Redis 7 and later.
   * @default 'auto'
   */
  sharded?: boolean | 'auto';
  /**
   * The prefix of the adapter's Redis channels. Nodes that should reach each other use the same one.
   * @default 'socket.io'
   */
  channelPrefix?: string;
  /**
   * How long `attach()` waits for Redis before it fails, in ms.
   * @default 5_000
   */
  connectTimeoutMs?: number;
}

/** A Redis adapter ready to install with `io.adapter(handle.adapter)`. */
export interface RedisAdapterHandle {
  /** The adapter constructor for `io.adapter()`. */
  adapter: unknown;
  /** Whether the sharded adapter (Redis 7 sharded Pub/Sub) was chosen. */
  sharded: boolean;
  /** The server's version (`INFO server`), when it could be read. */
  redisVersion: string | undefined;
  /** Closes the clients the handle created (never yours). */
  close(): Promise<void>;
}

interface RedisClientLike {
  info?(section: string): Promise<string>;
  connect?(): Promise<unknown>;
  quit?(): Promise<unknown>;
  disconnect?(): void;
  on?(event: string, listener: (error: Error) => void): unknown;
}

/** Validates {@link RedisAdapterOptions}, throwing a `TypeError` that says what to change. */
export function validateRedisAdapterOptions(options: RedisAdapterOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('redisAdapter must be an object: { url } or { pubClient, subClient }');
  }
  const hasUrl = options.url !== undefined;
  const hasClients = options.pubClient !== undefined || options.subClient !== undefined;
  if (hasUrl === hasClients) {
    throw new TypeError('redisAdapter needs either url or both pubClient and subClient (not both, not neither)');
  }
  if (hasUrl && (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url))) {
    throw new TypeError(`redisAdapter.url must be a redis:// or rediss:// URL, got ${JSON.stringify(options.url)}`);
  }
  if (hasClients && (options.pubClient === undefined || options.subClient === undefined)) {
    throw new TypeError('redisAdapter needs both pubClient and subClient (the subscriber must be its own connection)');
  }
  if (options.sharded !== undefined && options.sharded !== 'auto' && typeof options.sharded !== 'boolean') {
    throw new TypeError(`redisAdapter.sharded must be true, false or 'auto', got ${JSON.stringify(options.sharded)}`);
  }
  if (
    options.channelPrefix !== undefined &&
    (typeof options.channelPrefix !== 'string' || options.channelPrefix === '')
  ) {
    throw new TypeError('redisAdapter.channelPrefix must be a non-empty string');
  }
  const timeout = options.connectTimeoutMs;
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 1)) {
    throw new TypeError(`redisAdapter.connectTimeoutMs must be an integer >= 1, got ${String(timeout)}`);
  }
}

/**
 * Connects the Redis clients (when given a URL) and builds the adapter. Loads `@socket.io/redis-adapter` and
 * `ioredis` only when called.
 * @throws {UnisocketError} `UNAVAILABLE` when Redis cannot be reached within `connectTimeoutMs`
 */
export async function createRedisAdapter(
  options: RedisAdapterOptions,
  onError: (error: Error) => void = () => {},
): Promise<RedisAdapterHandle> {
  validateRedisAdapterOptions(options);
  const { createAdapter, createShardedAdapter } = await importPeer(
    () => import('@socket.io/redis-adapter'),
    '@socket.io/redis-adapter',
    options.url !== undefined ? '@socket.io/redis-adapter ioredis' : '@socket.io/redis-adapter',
  );
  const timeoutMs = options.connectTimeoutMs ?? 5_000;
  let pub: RedisClientLike;
  let sub: RedisClientLike;
  const owned: RedisClientLike[] = [];
  if (options.url !== undefined) {
    const mod = (await importPeer(() => import('ioredis'), 'ioredis', 'ioredis')) as unknown as {
      Redis?: RedisCtor;
      default?: RedisCtor | { Redis?: RedisCtor };
    };
    const Redis = mod.Redis ?? (typeof mod.default === 'function' ? mod.default : mod.default?.Redis);
    if (Redis === undefined) throw new TypeError('ioredis could not be loaded');
    const clientOptions = { lazyConnect: true, maxRetriesPerRequest: null, enableOfflineQueue: true };
    pub = new Redis(options.url, clientOptions);
    sub = new Redis(options.url, clientOptions);
    owned.push(pub, sub);
    for (const client of owned) client.on?.('error', onError);
    try {
      await withTimeout(Promise.all([pub.connect!(), sub.connect!()]), timeoutMs);
    } catch (error) {
      for (const client of owned) client.disconnect?.();
      throw new UnisocketError(
        ErrorCode.UNAVAILABLE,
        `cannot reach Redis at ${redactUrl(options.url)} for the Socket.IO adapter: ${(error as Error).message}`,
        { cause: error },
      );
    }
  } else {
    pub = options.pubClient as RedisClientLike;
    sub = options.subClient as RedisClientLike;
  }
  let redisVersion: string | undefined;
  if (typeof pub.info === 'function') {
    try {
      const info = await withTimeout(pub.info('server'), timeoutMs);
      redisVersion = /redis_version:([^\r\n]+)/.exec(info)?.[1];
    } catch {
      redisVersion = undefined;
    }
  }
  const wanted = options.sharded ?? 'auto';
  const sharded = wanted === 'auto' ? Number.parseInt(redisVersion ?? '0', 10) >= 7 : wanted;
  const prefix = options.channelPrefix === undefined ? {} : { channelPrefix: options.channelPrefix };
  const adapter = sharded
    ? createShardedAdapter(pub, sub, prefix)
    : createAdapter(pub, sub, options.channelPrefix === undefined ? {} : { key: options.channelPrefix });
  return {
    adapter,
    sharded,
    redisVersion,
    async close() {
      await Promise.allSettled(owned.map((client) => client.quit?.()));
      for (const client of owned) client.disconnect?.();
    },
  };
}

type RedisCtor = new (url: string, options: object) => RedisClientLike;

/**
 * Loads an optional peer of the Redis adapter (`@socket.io/redis-adapter`, `ioredis`: installed only by those who use
 * `redisAdapter`), turning "not installed" into a `TypeError` that names what to install.
 */
async function importPeer<T>(load: () => Promise<T>, name: string, install: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      String((error as Error).message).includes(name)
    ) {
      throw new TypeError(
        `the Socket.IO redisAdapter needs the ${name} package, which is not installed: npm install ${install}`,
        { cause: error },
      );
    }
    throw error;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
