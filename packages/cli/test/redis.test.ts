import { randomUUID } from 'node:crypto';
import { requireService } from '@unisocket/services';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Cli, Client, cleanEnv, freePort, getJson, killAll, run, sleep } from './helpers';

// a real Redis at 127.0.0.1:6379; under CI=true a missing one fails the suite instead of skipping it
const redisUp = await requireService('redis');
const REDIS_URL = 'redis://127.0.0.1:6379';

afterEach(killAll);

describe.skipIf(!redisUp)('on Redis', () => {
  const prefix = `unisocket-cli-test-${randomUUID().slice(0, 8)}:`;
  afterAll(async () => {
    // every key the servers made lives under the test's prefix (the queue's too: '<prefix>bull')
    const redis = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await redis.quit();
  });

  it('check: a reachable Redis passes (exit 0, saying what was checked)', async () => {
    const { code, stdout, stderr } = await run(
      ['check', '--broker', 'redis', '--redis-url', REDIS_URL, '--redis-key-prefix', prefix],
      cleanEnv({ JWT_SECRET: 'cli-test-secret-0123456789abcdefghij' }),
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('ok  options are valid: transports native, path /ws, auth JWT');
    expect(stdout).toContain(`ok  broker redis (${REDIS_URL}) answered`);
    expect(stdout).toContain('the configuration is good');
  });

  it('check: an unreachable Redis fails with exit 1 and what to do', async () => {
    const { code, stdout, stderr } = await run(
      ['check'],
      cleanEnv({ BROKER: 'redis', REDIS_URL: 'redis://127.0.0.1:1', REDIS_KEY_PREFIX: prefix }),
    );
    expect(code).toBe(1);
    expect(stdout).not.toContain('configuration is good');
    expect(stderr).toContain(
      'cannot reach Redis at redis://127.0.0.1:1: connection refused — start Redis or set REDIS_URL',
    );
  });

  it('check masks the password of a Redis URL', async () => {
    const { code, stderr } = await run(
      ['check'],
      cleanEnv({ BROKER: 'redis', REDIS_URL: 'redis://:hunter2@127.0.0.1:1' }),
    );
    expect(code).toBe(1);
    expect(stderr).toContain('cannot reach Redis at redis://:***@127.0.0.1:1');
    expect(stderr).not.toContain('hunter2');
  });

  it('start on Redis: the startup line names the broker with its URL masked', async () => {
    const port = await freePort();
    const cli = new Cli(
      ['start', '--host', '127.0.0.1'],
      cleanEnv({
        PORT: String(port),
        BROKER: 'redis',
        REDIS_URL: 'redis://default:s3cret-pass@127.0.0.1:6379',
        REDIS_KEY_PREFIX: prefix,
      }),
    );
    await cli.waitFor(/configured by/);
    expect(cli.stdout).toContain('broker redis (redis://default:***@127.0.0.1:6379)');
    expect(cli.stdout).not.toContain('s3cret-pass');
    expect((await getJson(`http://127.0.0.1:${port}/health`)).body).toMatchObject({ broker: { kind: 'redis' } });
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('WORKERS=2: two workers answer on one port, a message crosses them, SIGTERM stops both', async () => {
    const port = await freePort();
    const cli = new Cli(
      ['start', '--host', '127.0.0.1', '--node-id', 'cl'],
      cleanEnv({
        PORT: String(port),
        WORKERS: '2',
        BROKER: 'redis',
        REDIS_URL: REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        API_KEY: 'k',
      }),
    );
    await cli.waitFor(
      /unisocket listening[^\n]*node cl-1[\s\S]*unisocket listening|unisocket listening[^\n]*node cl-2[\s\S]*unisocket listening/,
      30_000,
    );
    await cli.waitFor(/unisocket cluster: 2 workers on http:\/\/127\.0\.0\.1:\d+ — broker redis/);
    expect(cli.stdout).toMatch(/node cl-1\n/);
    expect(cli.stdout).toMatch(/node cl-2\n/);

    // node:cluster hands new connections to the workers in turn
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const { body } = await getJson(`http://127.0.0.1:${port}/health`);
      seen.add((body as { nodeId: string }).nodeId);
    }
    expect([...seen].sort()).toEqual(['cl-1', 'cl-2']);

    // clients on both workers: a broadcast reaches each through Redis
    const clients: Client[] = [];
    const nodes = new Set<string>();
    for (let i = 0; i < 20 && nodes.size < 2; i++) {
      const c = new Client(`ws://127.0.0.1:${port}/ws`);
      const welcome = await c.frame('welcome');
      nodes.add(String(welcome.nodeId ?? ''));
      clients.push(c);
      c.ws.send(JSON.stringify({ type: 'subscribe', channel: 'news', ref: 1 }));
      await c.frame('ack');
    }
    expect([...nodes].sort()).toEqual(['cl-1', 'cl-2']);
    const sent = await getJson(`http://127.0.0.1:${port}/broadcast`, {
      method: 'POST',
      body: JSON.stringify({ channel: 'news', event: 'hello', data: 1 }),
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
    });
    expect(sent.status).toBe(202);
    for (const c of clients) expect(await c.frame('message')).toMatchObject({ channel: 'news', event: 'hello' });

    const pids = [...cli.stdout.matchAll(/worker \d+ \(pid (\d+)\) ready/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(2);
    const closes = clients.map((c) => c.closed);
    cli.child.kill('SIGTERM');
    for (const close of await Promise.all(closes)) expect(close.code).toBe(1001);
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    await sleep(100);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
