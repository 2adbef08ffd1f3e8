import { afterEach, describe, expect, it } from 'vitest';
import { type UnifiedWebSocketServiceOptions, createUnifiedWebSocketService, optionsFromEnv } from '../src/index';
import { RawClient, type TestServer, startServer, waitFor } from './helpers';

/**
 * The admin inspector (`admin` option) on a real listening server: off without the option, the token on every API
 * route, each answer, the filters and bounds, bad input, and the actions (publish, disconnect).
 */
// biome-ignore lint/suspicious/noExplicitAny: the answers are read field by field and checked by the assertions
type Json = Record<string, any>;
const TOKEN = 'admin-token-0123456789abcdef';
const servers: TestServer[] = [];
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

const auth: NonNullable<UnifiedWebSocketServiceOptions['auth']> = {
  authenticate: ({ token }) => (token === undefined ? null : { userId: token, info: { name: token } }),
  authorizeChannel: () => true,
};

async function start(options: UnifiedWebSocketServiceOptions = {}): Promise<TestServer> {
  const s = await startServer({ auth, admin: { token: TOKEN }, ...options });
  servers.push(s);
  return s;
}

async function client(s: TestServer, user: string, channels: string[]): Promise<RawClient> {
  const c = await RawClient.open(`${s.url}?token=${user}`);
  clients.push(c);
  for (const channel of channels) expect((await c.request({ type: 'subscribe', channel })).type).toBe('ack');
  return c;
}

async function api(
  s: TestServer,
  path: string,
  init: { method?: string; body?: unknown; token?: string | null; type?: string } = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? TOKEN}`;
  if (init.body !== undefined) headers['content-type'] = init.type ?? 'application/json';
  const res = await fetch(`${s.baseUrl}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
  const text = await res.text();
  let body: Json = {};
  try {
    body = JSON.parse(text) as Json;
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

const ROUTES: [string, string, unknown?][] = [
  ['GET', '/admin/api/node'],
  ['GET', '/admin/api/operations'],
  ['GET', '/admin/api/sample'],
  ['GET', '/admin/api/connections'],
  ['GET', '/admin/api/channels'],
  ['GET', '/admin/api/channels/news'],
  ['GET', '/admin/api/channels/news/history'],
  ['POST', '/admin/api/publish', { channel: 'news', event: 'x', data: 1 }],
  ['POST', '/admin/api/disconnect', { userId: 'alice' }],
  ['GET', '/admin/api/nope'],
];

describe('admin inspector', () => {
  it('is not served without the admin option (404, or next() for a framework)', async () => {
    const s = await startServer({});
    servers.push(s);
    for (const path of ['/admin', '/admin/', '/admin/api/node', '/admin/admin.js']) {
      const r = await api(s, path);
      expect(r.status, path).toBe(404);
    }
    const next: string[] = [];
    const service = createUnifiedWebSocketService({});
    service.httpHandler({ url: '/admin', method: 'GET', headers: {} } as never, {} as never, () => next.push('next'));
    expect(next).toEqual(['next']);
  });

  it('refuses a short token, unknown keys and a bad path; ADMIN_TOKEN maps it, masked', () => {
    expect(() => createUnifiedWebSocketService({ admin: { token: 'short' } })).toThrow(/at least 16 characters/);
    expect(() => createUnifiedWebSocketService({ admin: { token: TOKEN, extra: 1 } as never })).toThrow(/admin.extra/);
    expect(() => createUnifiedWebSocketService({ admin: { token: TOKEN, path: 'admin' } })).toThrow(/admin.path/);
    expect(() => createUnifiedWebSocketService({ admin: { token: TOKEN, path: '/admin/' } })).toThrow(/admin.path/);
    expect(() => createUnifiedWebSocketService({ admin: { token: TOKEN, path: '/stats' } })).toThrow(/overlaps/);
    const env = optionsFromEnv({ ADMIN_TOKEN: TOKEN });
    expect(env.options.admin).toEqual({ token: TOKEN });
    expect(env.used.ADMIN_TOKEN).toBe('***');
    expect(() => optionsFromEnv({ ADMIN_TOKEN: 'short' })).toThrow(/ADMIN_TOKEN must be at least 16/);
  });

  it('answers 401 with a message on every API route without or with a wrong token', async () => {
    const s = await start();
    for (const [method, path, body] of ROUTES) {
      for (const token of [null, 'wrong-token-0123456789', `${TOKEN}x`, '']) {
        const r = await api(s, path, { method, body, token });
        expect(r.status, `${method} ${path} ${token}`).toBe(401);
        expect(r.body.error).toBe('UNAUTHORIZED');
        expect(r.body.message).toMatch(/admin token/);
        expect(r.headers.get('cache-control')).toBe('no-store');
      }
    }
    // a Basic header or a token in the query string is not accepted
    const basic = await fetch(`${s.baseUrl}/admin/api/node?token=${TOKEN}`, {
      headers: { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
    });
    expect(basic.status).toBe(401);
  });

  it('serves the static page with no-store, DENY framing and a strict CSP; the page holds no token', async () => {
    const s = await start({ admin: { token: TOKEN, path: '/ops/admin' } });
    const page = await fetch(`${s.baseUrl}/ops/admin`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await page.text();
    expect(html).not.toContain(TOKEN);
    expect(html).toContain('/ops/admin/admin.js');
    expect(html).not.toMatch(/<script>|onclick=/);
    const js = await fetch(`${s.baseUrl}/ops/admin/admin.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(await js.text()).toContain('sessionStorage');
    expect((await fetch(`${s.baseUrl}/ops/admin/admin.css`)).status).toBe(200);
    expect((await fetch(`${s.baseUrl}/ops/admin/other`)).status).toBe(404);
    expect((await fetch(`${s.baseUrl}/ops/admin`, { method: 'POST' })).status).toBe(405);
    expect((await api(s, '/ops/admin/api/node')).status).toBe(200);
    expect((await api(s, '/admin/api/node')).status).toBe(404);
  });

  it('answers node, operations and sample with the node id', async () => {
    const s = await start({ nodeId: 'node-a' });
    const node = await api(s, '/admin/api/node');
    expect(node.status).toBe(200);
    expect(node.body).toMatchObject({ nodeId: 'node-a', scope: 'node', transports: ['native'], connections: 0 });
    expect(node.body.health.status).toBe('healthy');
    expect(node.body.broker).toMatchObject({ kind: 'memory', state: 'ready' });
    expect(node.headers.get('x-frame-options')).toBe('DENY');
    const ops = await api(s, '/admin/api/operations');
    expect(ops.status).toBe(200);
    expect(ops.body.nodeId).toBe('node-a');
    expect(ops.body.queues).toBeTypeOf('object');
    expect(Array.isArray(ops.body.breakers)).toBe(true);
    const sample = await api(s, '/admin/api/sample');
    expect(sample.body.sample).toMatchObject({ nodeId: 'node-a', connections: 0 });
    expect(sample.body.sample.rates).toBeTypeOf('object');
    const methodWrong = await api(s, '/admin/api/node', { method: 'POST', body: {} });
    expect(methodWrong.status).toBe(405);
    expect(methodWrong.headers.get('allow')).toBe('GET');
    expect((await api(s, '/admin/api/nope')).status).toBe(404);
  });

  it('lists connections filtered by user, channel, transport and IP, paged and bounded', async () => {
    const s = await start();
    const alice = await client(s, 'alice', ['news', 'chat']);
    await client(s, 'bob', ['news']);
    await client(s, 'alice', ['sport']);
    const all = await api(s, '/admin/api/connections');
    expect(all.body).toMatchObject({ total: 3, offset: 0, limit: 100, scope: 'node' });
    const row = all.body.connections.find((c: { channels: string[] }) => c.channels.includes('chat'));
    expect(row).toMatchObject({ userId: 'alice', transport: 'native', ip: '127.0.0.1' });
    expect(row.channels).toEqual(['user:alice', 'news', 'chat']);
    expect(row.connectedAt).toBeTypeOf('number');
    expect(row.messagesOut).toBeTypeOf('number');
    expect(row.bytesOut).toBeTypeOf('number');
    expect((await api(s, '/admin/api/connections?user=alice')).body.total).toBe(2);
    expect((await api(s, '/admin/api/connections?channel=news')).body.total).toBe(2);
    expect((await api(s, '/admin/api/connections?user=alice&channel=news')).body.total).toBe(1);
    expect((await api(s, '/admin/api/connections?transport=native')).body.total).toBe(3);
    expect((await api(s, '/admin/api/connections?transport=socketio')).body.total).toBe(0);
    expect((await api(s, '/admin/api/connections?ip=127.0.0.1')).body.total).toBe(3);
    expect((await api(s, '/admin/api/connections?ip=10.0.0.1')).body.total).toBe(0);
    const page1 = await api(s, '/admin/api/connections?limit=2');
    const page2 = await api(s, '/admin/api/connections?limit=2&offset=2');
    expect(page1.body.connections).toHaveLength(2);
    expect(page2.body.connections).toHaveLength(1);
    expect(page2.body.total).toBe(3);
    expect((await api(s, '/admin/api/connections?limit=1000')).status).toBe(200);
    for (const q of [
      'limit=1001',
      'limit=99999999999',
      'limit=0',
      'limit=-1',
      'limit=abc',
      'offset=-5',
      'offset=1.5',
    ]) {
      const r = await api(s, `/admin/api/connections?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.message).toMatch(/must be an integer from/);
    }
    expect((await api(s, `/admin/api/connections?user=${'x'.repeat(300)}`)).status).toBe(400);
    alice.close();
  });

  it('lists channels with counts, a channel with subscribers and presence members, 4xx for bad or unknown ones', async () => {
    const s = await start();
    await client(s, 'alice', ['news', 'presence-room']);
    await client(s, 'bob', ['news', 'presence-room']);
    const list = await api(s, '/admin/api/channels');
    expect(list.status).toBe(200);
    const news = list.body.channels.find((c: { name: string }) => c.name === 'news');
    expect(news).toEqual({ name: 'news', local: 2, cluster: 2 });
    expect(
      (await api(s, '/admin/api/channels?prefix=pres')).body.channels.map((c: { name: string }) => c.name),
    ).toEqual(['presence-room']);
    expect((await api(s, '/admin/api/channels?limit=1')).body.channels).toHaveLength(1);
    expect((await api(s, '/admin/api/channels?limit=5000')).status).toBe(400);
    const room = await api(s, '/admin/api/channels/presence-room');
    expect(room.status).toBe(200);
    expect(room.body).toMatchObject({ channel: 'presence-room', local: 2, cluster: 2 });
    expect(room.body.subscribers).toHaveLength(2);
    expect(room.body.presence.map((m: { userId: string }) => m.userId).sort()).toEqual(['alice', 'bob']);
    expect(room.body.position).toMatchObject({ offset: 0 });
    const unknown = await api(s, '/admin/api/channels/never-used');
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/no subscribers and no history/);
    for (const bad of ['bad%20name', '%E0%A4%A', 'x'.repeat(300), 'a%2Fb']) {
      const r = await api(s, `/admin/api/channels/${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.message).toBeTypeOf('string');
    }
  });

  it('pages through a channel history by offset with the epoch', async () => {
    const s = await start({ history: { size: 100 } });
    for (let i = 1; i <= 25; i++) await s.service.broadcast('log', 'line', { n: i });
    const newest = await api(s, '/admin/api/channels/log/history?limit=10');
    expect(newest.status).toBe(200);
    const epoch = newest.body.epoch as string;
    expect(epoch).toBe(newest.body.position.epoch);
    expect(newest.body.messages.map((m: { offset: number }) => m.offset)).toEqual([
      16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    ]);
    expect(newest.body.messages[0]).toMatchObject({ event: 'line', data: { n: 16 } });
    expect(newest.body).toMatchObject({ from: 16, prev: 6, next: null, complete: true, epochChanged: false });
    const older = await api(s, `/admin/api/channels/log/history?limit=10&from=6&epoch=${epoch}`);
    expect(older.body.messages.map((m: { offset: number }) => m.offset)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(older.body).toMatchObject({ prev: 1, next: 16 });
    const first = await api(s, '/admin/api/channels/log/history?limit=10&from=1');
    expect(first.body.messages).toHaveLength(10);
    expect(first.body.prev).toBeNull();
    const other = await api(s, '/admin/api/channels/log/history?limit=10&from=1&epoch=not-the-epoch');
    expect(other.body).toMatchObject({ epochChanged: true, messages: [], complete: false, prev: null, next: null });
    for (const q of ['limit=201', 'limit=0', 'from=0', 'from=x']) {
      expect((await api(s, `/admin/api/channels/log/history?${q}`)).status, q).toBe(400);
    }
    expect((await api(s, '/admin/api/channels/log/history?limit=200')).status).toBe(200);
  });

  it('publishes a message a client receives; refuses bad bodies with a message', async () => {
    const s = await start();
    const c = await client(s, 'alice', ['news']);
    const r = await api(s, '/admin/api/publish', {
      method: 'POST',
      body: { channel: 'news', event: 'admin', data: { hi: 1 } },
    });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ channel: 'news', offset: 1 });
    const m = await c.next((f) => f.type === 'message' && f.channel === 'news');
    expect(m).toMatchObject({ event: 'admin', data: { hi: 1 } });
    const bad: [unknown, number, string?][] = [
      [{ channel: 'bad name', event: 'x' }, 400],
      [{ channel: 'news' }, 400],
      [[1, 2], 400],
      ['{not json', 400],
      [{ channel: 'news', event: 'x' }, 415, 'text/plain'],
    ];
    for (const [body, status, type] of bad) {
      const res = await api(s, '/admin/api/publish', { method: 'POST', body, ...(type ? { type } : {}) });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.message).toBeTypeOf('string');
    }
    expect((await api(s, '/admin/api/publish')).status).toBe(405);
  });

  it('disconnects a connection, and every connection of a user; refuses odd ids and codes', async () => {
    const s = await start();
    const a1 = await client(s, 'alice', []);
    const a2 = await client(s, 'alice', []);
    const b = await client(s, 'bob', []);
    const bobId = (await api(s, '/admin/api/connections?user=bob')).body.connections[0].id as string;
    const one = await api(s, '/admin/api/disconnect', { method: 'POST', body: { connectionId: bobId, code: 4000 } });
    expect(one.status).toBe(200);
    expect(one.body.disconnected).toBe(1);
    expect(await b.waitClose()).toEqual({ code: 4000, reason: 'disconnected by an administrator' });
    const user = await api(s, '/admin/api/disconnect', { method: 'POST', body: { userId: 'alice' } });
    expect(user.body).toMatchObject({ disconnected: 2, code: 1008 });
    expect((await a1.waitClose()).code).toBe(1008);
    expect((await a2.waitClose()).code).toBe(1008);
    await waitFor(() => s.service.getConnectionCount() === 0);
    const bad: [unknown, number][] = [
      [{ connectionId: 'no-such-id' }, 404],
      [{ connectionId: 'x'.repeat(500) }, 400],
      [{ connectionId: 42 }, 400],
      [{ connectionId: 'a', userId: 'b' }, 400],
      [{}, 400],
      [{ userId: 'alice', code: 1006 }, 400],
      [{ userId: 'alice', code: 'x' }, 400],
    ];
    for (const [body, status] of bad) {
      const r = await api(s, '/admin/api/disconnect', { method: 'POST', body });
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.message).toBeTypeOf('string');
    }
  });
});
