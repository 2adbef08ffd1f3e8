import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect } from 'node:net';

/** The shared Redis of this machine (see shared/SERVICES.md). */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Sends PING over a raw socket: no client library, no retries. */
export function ping(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

const url = new URL(REDIS_URL);

/**
 * `true` when Redis answers. Under `CI=true` a missing Redis fails the suite; elsewhere the Redis suites are
 * skipped with one warning line.
 */
export const redisAvailable = await ping(Number(url.port || 6379), url.hostname);
if (!redisAvailable) {
  const message = `Redis is not reachable at ${REDIS_URL}: start it (see shared/SERVICES.md or tooling/services)`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI needs it`);
  console.warn(`⚠ SKIPPING the broker-redis suites: ${message}`);
}

const prefixes = new Set<string>();

/** A key prefix of its own for one test, so tests sharing the Redis never see each other. */
export function uniquePrefix(tag = 't'): string {
  const prefix = `test:${tag}:${randomBytes(4).toString('hex')}:`;
  prefixes.add(prefix);
  return prefix;
}

/** Deletes the keys of every prefix handed out by {@link uniquePrefix} (presence keys have no TTL). */
export async function deleteTestKeys(url = REDIS_URL): Promise<void> {
  if (!redisAvailable || prefixes.size === 0) return;
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    for (const prefix of prefixes) {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.del(...keys);
      } while (cursor !== '0');
    }
    prefixes.clear();
  } finally {
    client.disconnect();
  }
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A private redis-server on a free port that a test may kill and start again (nothing is persisted). */
export class PrivateRedis {
  #process: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.#process !== undefined) return;
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      { stdio: 'ignore' },
    );
    this.#process = child;
    child.on('exit', () => {
      if (this.#process === child) this.#process = undefined;
    });
    await waitFor(() => ping(this.port), 10_000, `redis-server on port ${this.port}`);
  }

  /** Kills the server (SIGKILL: no goodbye to clients). */
  async kill(): Promise<void> {
    const child = this.#process;
    if (child === undefined) return;
    this.#process = undefined;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }
}
