import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parsePrometheusText } from '@unisocket/monitoring';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type UnifiedWebSocketService,
  type UnifiedWebSocketServiceOptions,
  createUnifiedWebSocketService,
  fastifyPlugin,
} from '../src/index';
import { RawClient, waitFor } from './helpers';

/**
 * The HTTP API mounted five ways on a real listening server: plain node:http, Express 5 (raw body and behind
 * express.json()), Fastify 5 through the plugin, and Fastify with the manual catch-all recipe (body parsed by
 * Fastify). Every endpoint and every error status is exercised on each.
 */
type MountKind = 'node:http' | 'express' | 'express + express.json()' | 'fastify plugin' | 'fastify manual route';
const MOUNTS: MountKind[] = [
  'node:http',
  'express',
  'express + express.json()',
  'fastify plugin',
  'fastify manual route',
];

interface Mounted {
  kind: MountKind;
  base: string;
  ws: string;
  service: UnifiedWebSocketService;
  close(): Promise<void>;
}

const mounted: Mounted[] = [];
afterEach(async () => {
  await Promise.all(mounted.splice(0).map((m) => m.close()));
});

const API_KEY = 'test-key-0123456789';

function mount(kind: MountKind, options: UnifiedWebSocketServiceOptions = {}): Promise<Mounted> {
  return mountService(
    kind,
    createUnifiedWebSocketService({ ...options, http: { apiKey: API_KEY, maxBodyBytes: 4096, ...options.http } }),
  );
}

const auth = { authorization: `Bearer ${API_KEY}` };
const jsonHeaders = { ...auth, 'content-type': 'application/json' };

async function post(
  m: Mounted,
  path: string,
  body: string,
  headers: Record<string, string> = jsonHeaders,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(m.base + path, { method: 'POST', headers, body });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A POST whose body is streamed in chunks without a Content-Length (chunked), to test the streaming limit. */
function postChunked(m: Mounted, path: string, chunks: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(m.base + path, { method: 'POST', headers: jsonHeaders }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe.each(MOUNTS)('HTTP API on %s', (kind) => {
  const isFastifyManual = kind === 'fastify manual route';
  const isExpressJson = kind === 'express + express.json()';

  it('GET/HEAD /health, /stats, /api/websocket/status, /metrics answer 200 with the right bodies and types', async () => {
    const m = await mount(kind);
    const client = await RawClient.open(m.ws);
    await client.request({ type: 'subscribe', channel: 'news' });

    const health = await fetch(`${m.base}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await health.json()).toMatchObject({
      status: 'healthy',
      isHealthy: true,
      broker: { kind: 'memory', state: 'ready' },
      connections: 1,
    });
    const head = await fetch(`${m.base}/health`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');

    const stats = await fetch(`${m.base}/stats`).then((r) => r.json());
    expect(stats).toMatchObject({ activeConnections: 1, totalConnections: 1, peakConnections: 1, subscriptions: 1 });
    for (const field of [
      'totalMessages',
      'totalBroadcasts',
      'droppedMessages',
      'duplicateMessages',
      'queueOverflows',
      'reconnections',
      'uniqueUsers',
      'averageLatency',
      'uptime',
      'memoryUsage',
      'startTime',
      'lastActivity',
    ]) {
      expect(stats, field).toHaveProperty(field);
    }

    const status = (await fetch(`${m.base}/api/websocket/status`).then((r) => r.json())) as Record<string, unknown>;
    expect(status).toMatchObject({ status: 'operational', connectedClients: 1, subscriptions: { news: 1 } });
    expect(Object.values(status.clientDetails as Record<string, string[]>)).toEqual([['news']]);

    const metrics = await fetch(`${m.base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheusText(await metrics.text());
    const conns = families.get('unisocket_connections')!.samples.find((s) => s.labels.transport === 'native');
    expect(conns?.value).toBe(1);
    const requests = families.get('unisocket_http_requests_total')!.samples;
    expect(requests.find((s) => s.labels.endpoint === 'health' && s.labels.status === '200')?.value).toBe(2);
    for (const f of families.values())
      for (const s of f.samples) expect(Object.keys(s.labels)).not.toContain('channel');
    client.close();
  });

  it('POST /broadcast publishes: 202 {id, offset}; a batch publishes several; subscribers receive them', async () => {
    const m = await mount(kind);
    const client = await RawClient.open(m.ws);
    await client.request({ type: 'subscribe', channel: 'news' });
    const one = await post(m, '/broadcast', JSON.stringify({ channel: 'news', event: 'update', data: { n: 1 } }));
    expect(one.status).toBe(202);
    expect(one.body).toEqual({ id: expect.any(String), offset: 1 });
    const batch = await post(
      m,
      '/broadcast',
      JSON.stringify({
        messages: [
          { channel: 'news', event: 'update', data: { n: 2 } },
          { channel: 'other', event: 'x' },
          { channel: 'news', event: 'update', data: { n: 3 } },
        ],
      }),
    );
    expect(batch.status).toBe(202);
    expect(batch.body).toEqual({
      results: [
        { id: expect.any(String), channel: 'news', offset: 2 },
        { id: expect.any(String), channel: 'other', offset: 1 },
        { id: expect.any(String), channel: 'news', offset: 3 },
      ],
    });
    const array = await post(m, '/broadcast', JSON.stringify([{ channel: 'news', event: 'update', data: { n: 4 } }]));
    expect(array.status).toBe(202);
    expect(array.body).toMatchObject({ results: [{ channel: 'news', offset: 4 }] });
    // an idempotency key: the repeat is not published again
    const first = await post(
      m,
      '/broadcast',
      JSON.stringify({ channel: 'news', event: 'update', data: 5, id: 'order-5' }),
    );
    const again = await post(
      m,
      '/broadcast',
      JSON.stringify({ channel: 'news', event: 'update', data: 5, id: 'order-5' }),
    );
    expect(again.body).toMatchObject({ id: 'order-5', offset: first.body.offset, duplicate: true });
    await waitFor(() => client.messages('news').length === 5);
    expect(client.messages('news').map((f) => (f.data as { n?: number }).n ?? f.data)).toEqual([1, 2, 3, 4, 5]);
    client.close();
  });

  it('POST /broadcast: 401 without a valid key, 400 with a clear message for bad bodies, 415, 413', async () => {
    const m = await mount(kind);
    const good = JSON.stringify({ channel: 'news', event: 'e', data: 1 });

    const none = await post(m, '/broadcast', good, { 'content-type': 'application/json' });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: 'UNAUTHORIZED', message: expect.stringMatching(/Bearer/) });
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(
      (await post(m, '/broadcast', good, { authorization: 'Bearer wrong', 'content-type': 'application/json' })).status,
    ).toBe(401);
    expect(
      (await post(m, '/broadcast', good, { authorization: `Basic ${API_KEY}`, 'content-type': 'application/json' }))
        .status,
    ).toBe(401);

    const cases: [string, RegExp][] = [
      [JSON.stringify({ event: 'e' }), /"channel" must be a non-empty string/],
      [JSON.stringify({ channel: 'news' }), /"event" must be a non-empty string/],
      [JSON.stringify({ channel: 'bad channel!', event: 'e' }), /invalid channel name/],
      [JSON.stringify({ channel: 'news', event: 'e', id: 'x"}' }), /"id" \(an idempotency key\)/],
      [JSON.stringify('just a string'), /must be a JSON object/],
      [JSON.stringify({ messages: [] }), /a batch holds 1 to 1000 messages/],
      [JSON.stringify({ messages: [{ channel: 'ok', event: 'e' }, { channel: 'ok' }] }), /messages\[1\]: "event"/],
      [
        JSON.stringify({
          messages: [
            { channel: 'ok', event: 'e' },
            { channel: 'no way', event: 'e' },
          ],
        }),
        /messages\[1\]: invalid channel name/,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await post(m, '/broadcast', body);
      expect(res.status, body).toBe(400);
      // express.json() in its default strict mode refuses a top-level string itself (400, its own HTML page)
      if (isExpressJson && body.startsWith('"')) continue;
      expect(res.body, body).toMatchObject({ error: 'BAD_REQUEST', message: expect.stringMatching(message) });
    }
    const tooMany = await post(
      m,
      '/broadcast',
      JSON.stringify({ messages: Array.from({ length: 1001 }, () => ({ channel: 'c', event: 'e' })) }).slice(0, 4000),
    );
    expect(tooMany.status).toBe(400); // truncated: not JSON

    const badJson = await post(m, '/broadcast', '{"channel": "news",');
    expect(badJson.status).toBe(400);
    if (!isExpressJson && !isFastifyManual)
      expect(badJson.body).toMatchObject({ error: 'BAD_REQUEST', message: expect.stringMatching(/not valid JSON/) });

    const text = await post(m, '/broadcast', good, { ...auth, 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    if (!isFastifyManual) expect(text.body).toMatchObject({ message: expect.stringMatching(/application\/json/) });
    const noType = await fetch(`${m.base}/broadcast`, {
      method: 'POST',
      headers: auth,
      body: new Uint8Array(Buffer.from(good)),
    });
    expect(noType.status).toBe(415);

    const big = JSON.stringify({ channel: 'news', event: 'e', data: 'x'.repeat(10_000) });
    const tooLarge = await post(m, '/broadcast', big);
    expect(tooLarge.status).toBe(413);
    if (!isFastifyManual && !isExpressJson) expect(tooLarge.body).toMatchObject({ error: 'PAYLOAD_TOO_LARGE' });
    if (!isFastifyManual && !isExpressJson) {
      // no Content-Length: the limit applies while streaming
      const chunked = await postChunked(m, '/broadcast', [
        '{"channel":"news","event":"e","data":"',
        'y'.repeat(3000),
        'y'.repeat(3000),
        '"}',
      ]);
      expect(chunked.status).toBe(413);
    }
    // the server is still fine
    expect((await post(m, '/broadcast', good)).status).toBe(202);
  });

  it('answers 405 with Allow for wrong methods, and 404 (or the app) for other paths', async () => {
    const m = await mount(kind);
    const getBroadcast = await fetch(`${m.base}/broadcast`);
    expect(getBroadcast.status).toBe(405);
    expect(getBroadcast.headers.get('allow')).toBe('POST');
    const postHealth = await fetch(`${m.base}/health`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(postHealth.status).toBe(405);
    expect(postHealth.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${m.base}/metrics`, { method: 'DELETE' })).status).toBe(405);

    const missing = await fetch(`${m.base}/nope`);
    expect(missing.status).toBe(404);
    if (kind === 'node:http' || isFastifyManual) expect(await missing.json()).toMatchObject({ error: 'NOT_FOUND' });
    if (kind.startsWith('express')) expect(await missing.json()).toEqual({ from: 'express' }); // next() reached the app
    if (kind !== 'node:http' && !isFastifyManual)
      expect(await fetch(`${m.base}/app`).then((r) => r.json())).toEqual({ app: true });
  });

  it('answers 503 from /health and POST /broadcast once shutting down', async () => {
    const m = await mount(kind);
    await m.service.shutdown();
    const health = await fetch(`${m.base}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({
      status: 'unhealthy',
      errors: ['shutting down', expect.stringMatching(/broker memory is closed/)],
    });
    const res = await post(m, '/broadcast', JSON.stringify({ channel: 'news', event: 'e' }));
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'UNAVAILABLE' });
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('answers 403 when no API key is configured, honours http.paths, and CORS when configured', async () => {
    const service = createUnifiedWebSocketService({
      http: {
        paths: { health: '/healthz', broadcast: '/api/publish', metrics: '/prom' },
        cors: { origin: ['https://app.example'] },
      },
    });
    const m = await mountService(kind, service);
    const res = await post(m, '/api/publish', JSON.stringify({ channel: 'news', event: 'e' }));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'FORBIDDEN', message: expect.stringMatching(/http\.apiKey/) });
    expect((await fetch(`${m.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${m.base}/prom`)).status).toBe(200);
    expect((await fetch(`${m.base}/health`)).status).toBe(404);

    const preflight = await fetch(`${m.base}/api/publish`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('Authorization, Content-Type');
    const other = await fetch(`${m.base}/stats`, { headers: { origin: 'https://evil.example' } });
    expect(other.status).toBe(200);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const allowed = await fetch(`${m.base}/stats`, { headers: { origin: 'https://app.example' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });
});

/** Mounts a service on a real listening server, the `kind` way. */
async function mountService(kind: MountKind, service: UnifiedWebSocketService): Promise<Mounted> {
  let server: Server;
  let fastify: FastifyInstance | undefined;
  if (kind === 'node:http') {
    server = createServer((req, res) => service.httpHandler(req, res));
  } else if (kind === 'express' || kind === 'express + express.json()') {
    const app = express();
    if (kind === 'express + express.json()') app.use(express.json());
    app.get('/app', (_req, res) => {
      res.json({ app: true });
    });
    app.use(service.httpHandler);
    app.use((_req, res) => {
      res.status(404).json({ from: 'express' });
    });
    server = createServer(app);
  } else {
    fastify = Fastify();
    fastify.get('/app', async () => ({ app: true }));
    if (kind === 'fastify plugin') {
      await fastify.register(fastifyPlugin(service));
    } else {
      // the manual recipe: Fastify parses the body; hand it on as req.body
      fastify.all('/*', (request, reply) => {
        reply.hijack();
        (request.raw as { body?: unknown }).body = request.body;
        service.httpHandler(request.raw, reply.raw);
      });
    }
    await fastify.ready();
    server = fastify.server;
  }
  await service.initialize(server);
  if (fastify !== undefined) await fastify.listen({ port: 0, host: '127.0.0.1' });
  else await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const m: Mounted = {
    kind,
    base: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    service,
    async close() {
      await service.shutdown();
      server.closeAllConnections();
      if (fastify !== undefined) await fastify.close();
      else await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  mounted.push(m);
  return m;
}

describe('mounting details', () => {
  it('Express: mounted under a prefix with app.use(prefix, handler)', async () => {
    const service = createUnifiedWebSocketService();
    const app = express();
    app.use('/realtime', service.httpHandler);
    const server = createServer(app);
    await service.initialize(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${base}/realtime/health`)).status).toBe(200);
      expect((await fetch(`${base}/health`)).status).toBe(404);
    } finally {
      await service.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('Fastify: the plugin registered with a prefix; other routes keep their JSON parser', async () => {
    const service = createUnifiedWebSocketService({ http: { apiKey: API_KEY } });
    const app = Fastify();
    await app.register(fastifyPlugin(service), { prefix: '/realtime' });
    app.post('/echo', async (request) => ({ echo: request.body }));
    await app.ready();
    await service.initialize(app.server);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${base}/realtime/health`)).status).toBe(200);
      const res = await fetch(`${base}/realtime/broadcast`, {
        method: 'POST',
        headers: jsonHeaders,
        body: JSON.stringify({ channel: 'c', event: 'e' }),
      });
      expect(res.status).toBe(202);
      const echo = await fetch(`${base}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      expect(await echo.json()).toEqual({ echo: { a: 1 } });
    } finally {
      await service.shutdown();
      app.server.closeAllConnections();
      await app.close();
    }
  });

  it('refuses bad http options with a TypeError that names the option', () => {
    expect(() => createUnifiedWebSocketService({ http: { paths: { health: 'health' } } })).toThrow(/http.paths.health/);
    expect(() => createUnifiedWebSocketService({ http: { paths: { health: '/x', stats: '/x' } } })).toThrow(
      /must all differ/,
    );
    expect(() => createUnifiedWebSocketService({ http: { paths: { bogus: '/x' } as never } })).toThrow(
      /unknown http.paths.bogus/,
    );
    expect(() => createUnifiedWebSocketService({ http: { cors: { origin: [] } } })).toThrow(/http.cors.origin/);
    expect(() => createUnifiedWebSocketService({ http: { maxBodyBytes: 0 } })).toThrow(/maxBodyBytes/);
  });
});
