import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { deleteRedisKeys } from '@unisocket/services';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { io as ioClient } from 'socket.io-client';
import WebSocket from 'ws';
import { type Demo, startDemo } from '../src/demo';

const demos: Demo[] = [];
// every Redis key prefix this file hands out, deleted after the suite (SCAN + DEL) so no test: key is left behind
const redisPrefixes: string[] = [];
afterAll(async () => {
  await deleteRedisKeys(redisPrefixes.splice(0), { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
});

afterEach(async () => {
  await Promise.all(demos.splice(0).map((d) => d.close()));
});

function frames(ws: WebSocket): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) out.push(JSON.parse(line) as Record<string, unknown>);
  });
  return out;
}

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
if (!redisUp) {
  if (process.env.CI === 'true') throw new Error(`Redis is not reachable at ${REDIS_URL}; CI needs it`);
  console.warn(`⚠ SKIPPING the demo's cluster test: Redis is not reachable at ${REDIS_URL}`);
}

async function until(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('demo app', () => {
  it('serves the page, the HTTP API, chat between clients and the ticker', async () => {
    const demo = await startDemo({ port: 0, env: {}, log: () => {} });
    demos.push(demo);
    // the React page (built by esbuild through tsup into dist/web) and its hashed assets
    const page = await fetch(`${demo.url}/`).then((r) => r.text());
    expect(page).toContain('unisocket');
    const script = /src="(\/assets\/main-[\w-]+\.js)"/.exec(page)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${demo.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toContain('javascript');
    expect((await fetch(`${demo.url}/assets/..%2Fweb%2Findex.html`)).status).toBe(404);
    expect((await fetch(`${demo.url}/style.css`)).status).toBe(200);
    expect((await fetch(`${demo.url}/dashboard`)).status).toBe(200);
    expect(await fetch(`${demo.url}/health`).then((r) => r.json())).toMatchObject({ status: 'healthy' });

    const wsUrl = `ws://127.0.0.1:${demo.port}/ws`;
    const a = new WebSocket(wsUrl);
    const b = new WebSocket(wsUrl);
    const fa = frames(a);
    const fb = frames(b);
    await Promise.all([once(a, 'open'), once(b, 'open')]);
    a.send(JSON.stringify({ type: 'subscribe', channel: 'chat.lobby', ref: 1 }));
    b.send(JSON.stringify({ type: 'subscribe', channel: 'chat.lobby', ref: 1 }));
    b.send(JSON.stringify({ type: 'subscribe', channel: 'ticker', ref: 2 }));
    await until(() => fa.some((f) => f.type === 'ack') && fb.filter((f) => f.type === 'ack').length === 2);
    a.send(
      JSON.stringify({
        type: 'publish',
        channel: 'chat.lobby',
        event: 'say',
        data: { name: 'a', text: 'hello' },
        ref: 3,
      }),
    );
    await until(() => fb.some((f) => f.type === 'message' && f.channel === 'chat.lobby'));
    expect(fb.find((f) => f.type === 'message' && f.channel === 'chat.lobby')).toMatchObject({
      event: 'say',
      data: { text: 'hello' },
    });
    await until(() => fb.some((f) => f.type === 'message' && f.channel === 'ticker'), 3000);

    const res = await fetch(`${demo.url}/broadcast`, {
      method: 'POST',
      headers: { authorization: 'Bearer demo-key', 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'chat.lobby', event: 'say', data: { name: 'server', text: 'hi all' } }),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ id: expect.any(String), offset: 2 });
    const bad = await fetch(`${demo.url}/broadcast`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(401);
    a.close();
    b.close();
  });

  it('serves Socket.IO on /socket.io beside /ws: chat crosses between the transports; the page can switch', async () => {
    const demo = await startDemo({ port: 0, env: {}, log: () => {} });
    demos.push(demo);
    // the React page renders the transport select (its script and the modules it preloads carry it;
    // page.browser.test.ts and pusher.browser.test.ts use it)
    const page = await fetch(`${demo.url}/`).then((r) => r.text());
    const scripts = [...page.matchAll(/(?:src|href)="(\/assets\/[\w-]+\.js)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    const code = (await Promise.all(scripts.map((s) => fetch(`${demo.url}${s}`).then((r) => r.text())))).join('\n');
    expect(code).toContain('Socket.IO (/socket.io)');
    expect(code).toContain('Pusher (Laravel Echo, /app)');
    // the server still serves socket.io-client's browser bundle, for plain pages
    const bundle = await fetch(`${demo.url}/socket.io/socket.io.esm.min.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);

    const sio = ioClient(`http://127.0.0.1:${demo.port}`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
    });
    const ws = new WebSocket(`ws://127.0.0.1:${demo.port}/ws`);
    const fws = frames(ws);
    const sioMessages: Record<string, unknown>[] = [];
    sio.on('message', (m: Record<string, unknown>) => sioMessages.push(m));
    await Promise.all([once(ws, 'open'), new Promise((resolve) => sio.once('welcome', resolve))]);
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'chat.lobby', ref: 1 }));
    expect(await sio.emitWithAck('subscribe', { channel: 'chat.lobby' })).toMatchObject({
      type: 'ack',
      channel: 'chat.lobby',
    });
    await until(() => fws.some((f) => f.type === 'ack'));
    expect(
      await sio.emitWithAck('publish', {
        channel: 'chat.lobby',
        event: 'say',
        data: { name: 'sio', text: 'hello ws' },
      }),
    ).toMatchObject({ type: 'ack', offset: 1 });
    ws.send(
      JSON.stringify({
        type: 'publish',
        channel: 'chat.lobby',
        event: 'say',
        data: { name: 'ws', text: 'hello sio' },
        ref: 2,
      }),
    );
    await until(() => sioMessages.length === 2 && fws.filter((f) => f.type === 'message').length === 2);
    expect(sioMessages.map((m) => (m.data as { name: string }).name)).toEqual(['sio', 'ws']);
    expect(fws.filter((f) => f.type === 'message')).toEqual(sioMessages);
    expect(demo.service.transports).toEqual(['native', 'socketio', 'pusher']);
    sio.close();
    ws.close();
  });

  it('with JWT_SECRET: tokens from /demo/token, signed-in users share presence-lobby; other private channels refused', async () => {
    const JWT_SECRET = 'demo-secret-that-is-at-least-32-bytes-long';
    const demo = await startDemo({ port: 0, env: { JWT_SECRET }, log: () => {} });
    demos.push(demo);
    expect(await fetch(`${demo.url}/demo/config`).then((r) => r.json())).toEqual({
      auth: true,
      tokens: true,
      presenceChannel: 'presence-lobby',
      pusher: { key: 'demo-app-key' },
      features: { kafka: false },
    });
    const issued = (await fetch(`${demo.url}/demo/token?name=Ada%20L.`).then((r) => r.json())) as {
      token: string;
      userId: string;
    };
    expect(issued.userId).toBe('ada-l.');
    expect((await fetch(`${demo.url}/demo/token`)).status).toBe(400);

    const wsUrl = `ws://127.0.0.1:${demo.port}/ws`;
    const ada = new WebSocket(`${wsUrl}?token=${issued.token}`);
    const anon = new WebSocket(wsUrl);
    const fa = frames(ada);
    const fn = frames(anon);
    await Promise.all([once(ada, 'open'), once(anon, 'open')]);
    await until(() => fa.length > 0 && fn.length > 0);
    expect(fa[0]).toMatchObject({ type: 'welcome', userId: 'ada-l.' });
    ada.send(JSON.stringify({ type: 'subscribe', channel: 'presence-lobby', ref: 1 }));
    ada.send(JSON.stringify({ type: 'subscribe', channel: 'private-secret', ref: 2 }));
    anon.send(JSON.stringify({ type: 'subscribe', channel: 'presence-lobby', ref: 1 }));
    await until(() => fa.filter((f) => f.ref !== undefined).length === 2 && fn.some((f) => f.ref === 1));
    expect(fa.find((f) => f.ref === 1)).toMatchObject({
      type: 'ack',
      members: [{ userId: 'ada-l.', info: { name: 'Ada L.' } }],
    });
    expect(fa.find((f) => f.ref === 2)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(fn.find((f) => f.ref === 1)).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    // the anonymous tab signs in, joins, and the first member sees it; whispers reach the room
    const bob = (await fetch(`${demo.url}/demo/token?name=Bob`).then((r) => r.json())) as { token: string };
    anon.send(JSON.stringify({ type: 'auth', token: bob.token, ref: 3 }));
    anon.send(JSON.stringify({ type: 'subscribe', channel: 'presence-lobby', ref: 4 }));
    await until(() =>
      fa.some((f) => f.type === 'presence' && f.action === 'join' && (f.member as { userId: string }).userId === 'bob'),
    );
    anon.send(
      JSON.stringify({
        type: 'publish',
        channel: 'presence-lobby',
        event: 'client-typing',
        data: { name: 'Bob' },
        ref: 5,
      }),
    );
    await until(() => fa.some((f) => f.type === 'message' && f.event === 'client-typing'));
    ada.close();
    anon.close();
  });

  it('without JWT_SECRET presence-lobby is refused; in production no tokens are issued', async () => {
    const open = await startDemo({ port: 0, env: {}, log: () => {} });
    demos.push(open);
    expect(await fetch(`${open.url}/demo/config`).then((r) => r.json())).toMatchObject({ auth: false, tokens: false });
    expect((await fetch(`${open.url}/demo/token?name=x`)).status).toBe(404);
    const ws = new WebSocket(`ws://127.0.0.1:${open.port}/ws`);
    const f = frames(ws);
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'presence-lobby', ref: 1 }));
    await until(() => f.some((x) => x.ref === 1));
    expect(f.find((x) => x.ref === 1)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    ws.close();
    const prod = await startDemo({
      port: 0,
      env: {
        JWT_SECRET: 'demo-secret-that-is-at-least-32-bytes-long',
        NODE_ENV: 'production',
        API_KEY: 'k',
        // the demo's Pusher app needs a real secret in production
        PUSHER_APP_SECRET: 'a-pusher-app-secret-of-at-least-32-characters',
      },
      log: () => {},
    });
    demos.push(prod);
    expect((await fetch(`${prod.url}/demo/token?name=x`)).status).toBe(404);
    await expect(startDemo({ port: 0, env: { JWT_SECRET: 'short' }, log: () => {} })).rejects.toThrow(
      /JWT_SECRET is 5 bytes/,
    );
  });

  it('serves the dashboard and publishes stats on sys.stats, where browsers may not publish', async () => {
    const demo = await startDemo({ port: 0, env: {}, log: () => {} });
    demos.push(demo);
    const page = await fetch(`${demo.url}/dashboard`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/dashboard.js');
    expect((await fetch(`${demo.url}/dashboard.js`)).headers.get('content-type')).toMatch(/javascript/);
    const ws = new WebSocket(`ws://127.0.0.1:${demo.port}/ws`);
    const f = frames(ws);
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'sys.stats', ref: 1 }));
    ws.send(JSON.stringify({ type: 'publish', channel: 'sys.stats', event: 'stats', data: { fake: true }, ref: 2 }));
    await until(() => f.some((x) => x.type === 'error' && x.ref === 2));
    expect(f.find((x) => x.ref === 2)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    await until(() => f.some((x) => x.type === 'message' && x.channel === 'sys.stats'), 3000);
    expect(f.find((x) => x.type === 'message')).toMatchObject({
      event: 'stats',
      data: { connections: 1, health: 'healthy' },
    });
    ws.close();
  });

  it('GET /demo/history: where a new page subscribes to replay the recent chat, and the messages after a position', async () => {
    const demo = await startDemo({ port: 0, env: {}, log: () => {} });
    demos.push(demo);
    const get = (query: string) => fetch(`${demo.url}/demo/history${query}`);
    const empty = (await get('').then((r) => r.json())) as { since: { epoch: string; offset: number } };
    expect(empty.since.offset).toBe(0);
    for (let i = 1; i <= 60; i++) await demo.service.broadcast('chat.lobby', 'say', { name: 'server', text: `m${i}` });
    const { since } = (await get('').then((r) => r.json())) as { since: { epoch: string; offset: number } };
    // the last 50 of 60: subscribing after offset 10 replays 11..60
    expect(since).toEqual({ epoch: empty.since.epoch, offset: 10 });
    const after = (await get(`?epoch=${since.epoch}&after=58`).then((r) => r.json())) as {
      epoch: string;
      complete: boolean;
      messages: { offset: number; event: string; data: { text: string } }[];
    };
    expect(after.complete).toBe(true);
    expect(after.messages.map((m) => [m.offset, m.event, m.data.text])).toEqual([
      [59, 'say', 'm59'],
      [60, 'say', 'm60'],
    ]);
    // another epoch (a restarted server's old one): nothing of it is here
    const other = (await get('?epoch=gone&after=3').then((r) => r.json())) as { messages: unknown[] };
    expect(other.messages).toEqual([]);
    const bad = await get(`?epoch=${since.epoch}&after=-1`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/after=<an offset, an integer >= 0>/);
    // only decimal digits of a safe integer: nothing odd reaches the history store
    for (const value of ['', 'abc', '1e300', '1e3', '0x10', '%201', '1.0', 'Infinity', '9007199254740993']) {
      const refused = await get(`?epoch=${since.epoch}&after=${value}`);
      expect(refused.status, `after=${value}`).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toBe('BAD_REQUEST');
    }
    expect((await get(`?epoch=${'e'.repeat(65)}&after=1`)).status).toBe(400);
  });

  it('refuses a bad PORT with a clear error', async () => {
    await expect(startDemo({ env: { PORT: 'abc' }, log: () => {} })).rejects.toThrow(/PORT/);
    await expect(startDemo({ env: { BROKER: 'carrier-pigeon' }, log: () => {} })).rejects.toThrow(/BROKER/);
  });

  it('shuts down gracefully on SIGTERM: clients get 1001 and the process exits 0', async () => {
    const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'main.js')], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => /on http:\/\/localhost:\d+/.test(out), 10_000);
    const port = /localhost:(\d+)/.exec(out)![1];
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await once(ws, 'open');
    const closed = once(ws, 'close');
    child.kill('SIGTERM');
    const [code] = (await closed) as [number];
    expect(code).toBe(1001);
    const [exitCode] = (await once(child, 'exit')) as [number];
    expect(exitCode).toBe(0);
  });

  it.skipIf(!redisUp)(
    'WORKERS=2 BROKER=redis: two workers on one port deliver to each other, and SIGTERM drains both',
    async () => {
      const keyPrefix = `test:demo:${Math.random().toString(36).slice(2)}:`;
      redisPrefixes.push(keyPrefix);
      const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'main.js')], {
        env: {
          ...process.env,
          PORT: '0',
          WORKERS: '2',
          BROKER: 'redis',
          REDIS_URL,
          REDIS_KEY_PREFIX: keyPrefix,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      await until(() => (out.match(/on http:\/\/localhost:\d+/g) ?? []).length === 2, 15_000);
      const port = /localhost:(\d+)/.exec(out)![1];
      // connections are spread over both workers: open a few and check both nodes are among them
      const sockets = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
          const got = frames(ws);
          await until(() => got.length > 0);
          ws.send(JSON.stringify({ type: 'subscribe', channel: 'chat.lobby', ref: 1 }));
          await until(() => got.some((f) => f.ref === 1));
          return { ws, got };
        }),
      );
      const nodes = new Set(sockets.map((s) => s.got[0]!.nodeId));
      expect(nodes.size).toBe(2);
      sockets[0]!.ws.send(
        JSON.stringify({ type: 'publish', channel: 'chat.lobby', event: 'say', data: { text: 'hi' }, ref: 2 }),
      );
      await until(() => sockets.every((s) => s.got.some((f) => f.type === 'message' && f.event === 'say')), 5000);
      const closed = sockets.map((s) => once(s.ws, 'close'));
      child.kill('SIGTERM');
      const codes = (await Promise.all(closed)).map(([code]) => code as number);
      expect(codes).toEqual([1001, 1001, 1001, 1001, 1001, 1001]);
      const [exitCode] = (await once(child, 'exit')) as [number];
      expect(exitCode).toBe(0);
    },
    30_000,
  );
});
