import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { deleteRedisKeys } from '@unisocket/services';
import { afterAll, afterEach, describe, expect, it, onTestFailed } from 'vitest';
import type { ClusterEvent } from '../src/index';
import { RawClient, waitFor } from './helpers';

const FIXTURE = fileURLToPath(new URL('./fixtures/cluster-worker.mjs', import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisUp = await new Promise<boolean>((resolve) => {
  const url = new URL(REDIS_URL);
  const socket = connect({ port: Number(url.port || 6379), host: url.hostname });
  const done = (ok: boolean): void => {
    socket.destroy();
    resolve(ok);
  };
  socket.setTimeout(1000, () => done(false));
  socket.on('error', () => done(false));
  socket.on('connect', () => socket.write('PING\r\n'));
  socket.on('data', (d) => done(d.toString().startsWith('+PONG')));
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface RunningCluster {
  child: ChildProcess;
  port: number;
  events: ClusterEvent[];
  exited: Promise<number | null>;
}

const running: RunningCluster[] = [];
// every Redis key prefix this file hands out, deleted after the suite (SCAN + DEL) so no test: key is left behind
const redisPrefixes: string[] = [];
afterAll(async () => {
  await deleteRedisKeys(redisPrefixes.splice(0), { url: REDIS_URL });
});

afterEach(() => {
  for (const c of running.splice(0)) if (c.child.exitCode === null) c.child.kill('SIGKILL');
});

async function startCluster(env: Record<string, string> = {}): Promise<RunningCluster> {
  const port = await freePort();
  const keyPrefix = `test:cluster:${randomBytes(4).toString('hex')}:`;
  if (redisUp) redisPrefixes.push(keyPrefix);
  const child = spawn(process.execPath, [FIXTURE], {
    env: {
      ...process.env,
      PORT: String(port),
      WORKERS: '2',
      ...(redisUp ? { REDIS_URL, KEY_PREFIX: keyPrefix } : {}),
      ...env,
    },
    // stderr is kept (a crashing worker prints its stack there) and shown only when a test fails
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: ClusterEvent[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  onTestFailed(() => console.error(`cluster stderr:\n${stderr}`));
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buffered.slice(0, nl)) as ClusterEvent);
      buffered = buffered.slice(nl + 1);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const c = { child, port, events, exited };
  running.push(c);
  return c;
}

const ready = (c: RunningCluster) =>
  c.events.filter((e): e is Extract<ClusterEvent, { type: 'ready' }> => e.type === 'ready');

// processes on a shared 2-core machine: generous bounds (forks and restarts take seconds under load)
describe('runCluster (node:cluster)', () => {
  it('forks workers sharing one port, restarts a killed one, and drains all on SIGTERM', async () => {
    const c = await startCluster();
    await waitFor(() => ready(c).length === 2, 20_000, 'two workers ready');
    const [first, second] = ready(c);
    expect(new Set([first!.index, second!.index])).toEqual(new Set([1, 2]));
    // both serve the shared port
    const nodes = new Set<string>();
    for (let i = 0; i < 20 && nodes.size < 2; i++) {
      const health = (await fetch(`http://127.0.0.1:${c.port}/health`, { headers: { connection: 'close' } }).then((r) =>
        r.json(),
      )) as { nodeId: string };
      nodes.add(health.nodeId);
    }
    expect(nodes).toEqual(new Set(['cl-1', 'cl-2']));

    process.kill(first!.pid, 'SIGKILL');
    await waitFor(() => ready(c).length === 3, 20_000, 'the killed worker to be restarted');
    const restarted = ready(c)[2]!;
    expect(restarted.index).toBe(first!.index);
    expect(restarted.pid).not.toBe(first!.pid);
    expect(c.events).toContainEqual({
      type: 'exit',
      index: first!.index,
      pid: first!.pid,
      code: null,
      signal: 'SIGKILL',
    });
    expect(c.events).toContainEqual({ type: 'restart', index: first!.index, delayMs: 50, restarts: 1 });

    const clients = await Promise.all([0, 1, 2, 3].map(() => RawClient.open(`ws://127.0.0.1:${c.port}/ws`)));
    c.child.kill('SIGTERM');
    const closes = await Promise.all(clients.map((client) => client.waitClose(10_000)));
    expect(closes.map((x) => x.code)).toEqual([1001, 1001, 1001, 1001]);
    expect(await c.exited).toBe(0);
    const exits = c.events.filter((e) => e.type === 'exit').slice(1);
    expect(exits.map((e) => (e as { code: number }).code)).toEqual([0, 0]);
    expect(c.events.at(-1)).toEqual({ type: 'stopped' });
  }, 60_000);

  it('backs off when a worker keeps crashing at start', async () => {
    const c = await startCluster({ CRASH_ON_START: 'cl-2' });
    await waitFor(() => c.events.filter((e) => e.type === 'restart' && e.index === 2).length >= 4, 20_000, 'restarts');
    const delays = c.events
      .filter((e) => e.type === 'restart' && e.index === 2)
      .map((e) => (e as { delayMs: number }).delayMs);
    expect(delays.slice(0, 4)).toEqual([50, 100, 200, 400]);
    c.child.kill('SIGTERM');
    expect(await c.exited).toBe(0);
  }, 60_000);
});
