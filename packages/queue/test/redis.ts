import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { Redis } from 'ioredis';

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
  console.warn(`⚠ SKIPPING the queue's BullMQ suite: ${message}`);
}

const prefixes = new Set<string>();

/** A BullMQ key prefix of its own for one test (`test:q:<random>`), so tests sharing the Redis never see each other. */
export function uniquePrefix(): string {
  const prefix = `test:q:${randomBytes(4).toString('hex')}`;
  prefixes.add(prefix);
  return prefix;
}

async function scanKeys(client: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Deletes the keys of every prefix handed out by {@link uniquePrefix}; returns how many keys remain (0). */
export async function deleteTestKeys(): Promise<number> {
  if (!redisAvailable || prefixes.size === 0) return 0;
  const { Redis } = await import('ioredis');
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    let left = 0;
    for (const prefix of prefixes) {
      const keys = await scanKeys(client, `${prefix}:*`);
      if (keys.length > 0) await client.del(...keys);
      left += (await scanKeys(client, `${prefix}:*`)).length;
    }
    prefixes.clear();
    return left;
  } finally {
    client.disconnect();
  }
}
