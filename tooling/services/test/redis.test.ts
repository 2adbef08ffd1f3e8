import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ensureRedis,
  freePort,
  mayStartPrivate,
  requireService,
  startRedisServer,
  type RedisServer,
} from '@unisocket/services';
import { redisCommand } from './resp';

// These start Redis servers; UNISOCKET_SERVICES=off starts nothing, so they skip (fail under CI=true).
const mayStart = await mayStartPrivate('redis');

describe.skipIf(!mayStart)('ensureRedis', () => {
  it('returns a Redis that answers PING, and reuses it on the next call', async () => {
    const first = await ensureRedis({ log: () => {} });
    expect(first.url).toBe(`redis://127.0.0.1:${first.port}`);
    expect(await redisCommand(first.port, 'PING')).toBe('+PONG');

    const second = await ensureRedis({ log: () => {} });
    expect(second).toMatchObject({ url: first.url, started: false });
  });
});

describe.skipIf(!mayStart)('startRedisServer', () => {
  const servers: RedisServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });

  it('runs a private server that can be killed and restarted on the same port, empty', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const { port, pid } = server;
    expect(server.url).toBe(`redis://127.0.0.1:${port}`);
    expect(await redisCommand(port, 'SET', 'greeting', 'hello')).toBe('+OK');
    expect(await redisCommand(port, 'GET', 'greeting')).toBe('hello');

    server.kill();
    await vi.waitFor(() => expect(redisCommand(port, 'PING')).rejects.toThrow(/ECONNREFUSED/), { timeout: 5_000 });

    await server.restart();
    expect(server.port).toBe(port);
    expect(server.pid).not.toBe(pid);
    expect(await redisCommand(port, 'PING')).toBe('+PONG');
    expect(await redisCommand(port, 'GET', 'greeting')).toBe('$-1');
  });

  it('restarts a server that still runs, and stops for good', async () => {
    const server = await startRedisServer();
    await server.restart();
    expect(await redisCommand(server.port, 'PING')).toBe('+PONG');
    await server.stop();
    expect(server.pid).toBeUndefined();
    await expect(redisCommand(server.port, 'PING')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('gives concurrent servers distinct ports, and honours an explicit one', async () => {
    const port = await freePort();
    const [a, b, c] = await Promise.all([startRedisServer(), startRedisServer(), startRedisServer({ port })]);
    servers.push(a, b, c);
    expect(new Set([a.port, b.port, c.port]).size).toBe(3);
    expect(c.port).toBe(port);
  });

  it('fails with the reason when the port is taken', async () => {
    const first = await startRedisServer();
    servers.push(first);
    await expect(startRedisServer({ port: first.port })).rejects.toThrow(/already in use/i);
  });
});

describe('freePort', () => {
  it('returns a port that can be listened on', async () => {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('requireService', () => {
  const saved = { CI: process.env.CI, REDIS_PORT: process.env.REDIS_PORT };
  afterEach(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    vi.restoreAllMocks();
  });

  it.skipIf(!mayStart)('resolves true when the service answers', async () => {
    const server = await startRedisServer();
    process.env.REDIS_PORT = String(server.port);
    try {
      expect(await requireService('redis')).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('outside CI: resolves false and warns once on stderr', async () => {
    delete process.env.CI;
    process.env.REDIS_PORT = String(await freePort());
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await requireService('redis')).toBe(false);
    expect(await requireService('redis')).toBe(false);
    const lines = stderr.mock.calls.map(([text]) => String(text)).filter((text) => text.includes('SKIPPED'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(
      `[unisocket] SKIPPED: Redis tests — no Redis at 127.0.0.1:${process.env.REDIS_PORT}; run "pnpm services:up"`,
    );
  });

  it('in CI: rejects and says how to start the service', async () => {
    process.env.CI = 'true';
    process.env.REDIS_PORT = String(await freePort());
    await expect(requireService('redis')).rejects.toThrow(/required in CI.*pnpm services:up/s);
  });

  it('rejects an unknown service name', async () => {
    // @ts-expect-error: not a service this package knows
    await expect(requireService('postgres')).rejects.toThrow(TypeError);
  });
});
