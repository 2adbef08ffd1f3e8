import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, UnisocketError } from '@unisocket/core';
import { signConnectionToken } from '../src/index';
import { RawClient, type TestServer, sleep, startServer, waitFor } from './helpers';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long';
const API_KEY = 'ops-test-key';
const servers: TestServer[] = [];
const receivers: Server[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const r of receivers.splice(0)) {
    r.closeAllConnections();
    await new Promise<void>((resolve) => r.close(() => resolve()));
  }
});

/** Makes the Hub refuse publishes of event `fail`, as a broker that cannot take them would. */
function failPublishesOf(s: TestServer, event = 'fail'): void {
  const hub = s.service.hub;
  const original = hub.publish.bind(hub);
  hub.publish = ((channel: string, name: string, data: unknown, options?: object) =>
    name === event
      ? Promise.reject(new UnisocketError(ErrorCode.UNAVAILABLE, 'the broker cannot take it (test)'))
      : original(channel, name, data, options)) as typeof hub.publish;
}

const tab = async (s: TestServer, userId: string): Promise<RawClient> => {
  const token = await signConnectionToken({ secret: SECRET, userId });
  return RawClient.open(s.url, { headers: { authorization: `Bearer ${token}` } });
};

const api = (s: TestServer, method: string, path: string, body?: unknown) =>
  fetch(`${s.baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${API_KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).then(async (res) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> }));

/** A webhook receiver on a free port that records every request. */
async function receiver(): Promise<{ url: string; requests: { headers: IncomingMessage['headers']; body: string }[] }> {
  const requests: { headers: IncomingMessage['headers']; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.end('ok');
    });
  });
  receivers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, requests };
}

describe('lifecycle events on the service', () => {
  it('channel_occupied once, channel_vacated after the grace, and a return inside the grace is no event', async () => {
    const s = await start({ lifecycle: { vacateGraceMs: 300 } });
    const seen: string[] = [];
    s.service.on('channel_occupied', (e) => seen.push(`occupied:${e.channel}`));
    s.service.on('channel_vacated', (e) => seen.push(`vacated:${e.channel}`));
    await sleep(10); // the listener turns occupancy tracking on (next microtask)
    const a = await RawClient.open(s.url);
    const b = await RawClient.open(s.url);
    await a.request({ type: 'subscribe', channel: 'room' });
    await b.request({ type: 'subscribe', channel: 'room' });
    await waitFor(() => seen.length === 1, 2000, 'occupied');
    expect(seen).toEqual(['occupied:room']);
    await a.request({ type: 'unsubscribe', channel: 'room' });
    await b.request({ type: 'unsubscribe', channel: 'room' });
    await sleep(100);
    await a.request({ type: 'subscribe', channel: 'room' }); // back inside the grace
    await sleep(450);
    expect(seen).toEqual(['occupied:room']);
    await a.request({ type: 'unsubscribe', channel: 'room' });
    await waitFor(() => seen.length === 2, 2000, 'vacated');
    expect(seen).toEqual(['occupied:room', 'vacated:room']);
    a.close();
    b.close();
  });

  it('member_added / member_removed per user across tabs, client_event, connection_opened / closed', async () => {
    const s = await start({
      auth: { jwt: { secret: SECRET }, authorizeChannel: () => true },
      presence: { leaveGraceMs: 200 },
      permissions: { publish: ['chat'] },
    });
    const seen: string[] = [];
    s.service.on('member_added', (e) => seen.push(`added:${e.channel}:${e.user_id}`));
    s.service.on('member_removed', (e) => seen.push(`removed:${e.channel}:${e.user_id}`));
    s.service.on('client_event', (e) => seen.push(`client:${e.channel}:${e.event}:${e.data}:${e.user_id}`));
    s.service.on('connection_opened', (e) => seen.push(`opened:${e.user_id}:${e.transport}`));
    s.service.on('connection_closed', (e) => seen.push(`closed:${e.user_id}`));
    await sleep(10);
    const tab1 = await tab(s, 'anna');
    const tab2 = await tab(s, 'anna');
    await tab1.request({ type: 'subscribe', channel: 'presence-room' });
    await tab2.request({ type: 'subscribe', channel: 'presence-room' });
    await tab1.request({ type: 'publish', channel: 'chat', event: 'say', data: { text: 'hi' } });
    tab1.close();
    await tab1.waitClose();
    await sleep(350);
    expect(seen.filter((e) => e.startsWith('removed'))).toEqual([]);
    tab2.close();
    await waitFor(() => seen.includes('removed:presence-room:anna'), 2000, 'member_removed');
    expect(seen).toEqual([
      'opened:anna:native',
      'opened:anna:native',
      'added:presence-room:anna',
      'client:chat:say:{"text":"hi"}:anna',
      'closed:anna',
      'closed:anna',
      'removed:presence-room:anna',
    ]);
  });

  it('binds nothing for events nobody wants: no listener, no webhook → no occupancy tracking', async () => {
    const s = await start();
    expect(s.service.hub.listenerCount('clientPublish')).toBe(0);
    expect(s.service.hub.listenerCount('occupancy')).toBe(0);
    const handler = (): void => {};
    s.service.on('client_event', handler);
    await sleep(5);
    expect(s.service.hub.listenerCount('clientPublish')).toBe(1);
    s.service.off('client_event', handler);
    await sleep(5);
    expect(s.service.hub.listenerCount('clientPublish')).toBe(0);
  });
});

describe('queued broadcasts (memory queue)', () => {
  it('a delayed broadcast arrives within 100 ms of its time, from service.queue and from POST /broadcast', async () => {
    const s = await start({ http: { apiKey: API_KEY } });
    const c = await RawClient.open(s.url);
    await c.request({ type: 'subscribe', channel: 'news' });
    const t0 = Date.now();
    const job = await s.service.queue.broadcast('news', 'later', { n: 1 }, { delayMs: 300 });
    expect(job.id).toBeTruthy();
    await c.next((f) => f.type === 'message' && f.event === 'later', 2000);
    const late = Date.now() - t0 - 300;
    expect(late).toBeGreaterThanOrEqual(-5);
    expect(late).toBeLessThan(100);

    const t1 = Date.now();
    const res = await api(s, 'POST', '/broadcast', { channel: 'news', event: 'http-later', data: 1, delayMs: 250 });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ jobId: expect.any(String), runAt: expect.any(Number) });
    await c.next((f) => f.type === 'message' && f.event === 'http-later', 2000);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(245);
    expect(Date.now() - t1).toBeLessThan(250 + 150);
    c.close();
  });

  it('bad input: invalid channel, data that is not JSON, bad delay, durable without Redis, malformed cron', async () => {
    const s = await start({ http: { apiKey: API_KEY } });
    await expect(s.service.queue.broadcast('bad channel!', 'e', 1)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(s.service.queue.broadcast('news', 'e', { n: 1n })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(s.service.queue.broadcast('news', 'e', 1, { delayMs: -1 })).rejects.toThrow(TypeError);
    await expect(s.service.queue.broadcast('news', 'e', 1, { durable: true })).rejects.toThrow(/needs a Redis/);
    await expect(s.service.queue.recurring('k', { pattern: 'every tuesday' }, 'news', 'e', () => 1)).rejects.toThrow(
      TypeError,
    );
    const res = await api(s, 'POST', '/broadcast', { channel: 'news', event: 'e', delayMs: 'soon' });
    expect(res.status).toBe(400);
    expect(() => new (s.service.constructor as new (o: object) => unknown)({ queue: { durable: true } })).toThrow(
      /queue.durable needs a Redis/,
    );
  });

  it('a broadcast that keeps failing goes to the dead-letter queue; listed, retried, removed over HTTP', async () => {
    const s = await start({ http: { apiKey: API_KEY } });
    failPublishesOf(s);
    const job = await s.service.queue.broadcast('news', 'fail', 'x', {
      attempts: 2,
      backoff: 50,
    });
    let list: Awaited<ReturnType<typeof api>> | undefined;
    for (let i = 0; i < 40; i++) {
      list = await api(s, 'GET', '/queue/dead-letters');
      if ((list.body.total as number) > 0) break;
      await sleep(50);
    }
    expect(list!.status).toBe(200);
    expect(list!.body.entries).toMatchObject([{ id: job.id, queue: 'broadcasts', attemptsMade: 2 }]);
    const overview = await api(s, 'GET', '/queue');
    expect(overview.body).toMatchObject({ kind: 'memory', durable: false, counts: { broadcasts: { failed: 1 } } });

    const retried = await api(s, 'POST', `/queue/dead-letters/broadcasts/${job.id}/retry`);
    expect(retried.status).toBe(202);
    // it fails again and is back in the dead-letter queue
    for (let i = 0; i < 100; i++) {
      await sleep(30);
      const back = await api(s, 'GET', '/queue/dead-letters');
      if ((back.body.entries as { id: string }[]).some((e) => e.id === job.id)) break;
    }
    const removed = await api(s, 'DELETE', `/queue/dead-letters/broadcasts/${job.id}`);
    expect(removed.status).toBe(200);
    const again = await api(s, 'DELETE', `/queue/dead-letters/broadcasts/${job.id}`);
    expect(again.status).toBe(404);
    const retryRemoved = await api(s, 'POST', `/queue/dead-letters/broadcasts/${job.id}/retry`);
    expect(retryRemoved.status).toBe(404);
    expect(retryRemoved.body.message).toMatch(String(job.id));
    const noKey = await fetch(`${s.baseUrl}/queue/dead-letters`);
    expect(noKey.status).toBe(401);
  });
});

describe('operational channels', () => {
  it('sys.* categories need operations.authorize; permitted clients see dead-letter and retry events', async () => {
    const denied = await start();
    const c = await RawClient.open(denied.url);
    const refused = await c.request({ type: 'subscribe', channel: 'sys.dlq' });
    expect(refused).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    // other sys.* channels (the stats channel) are not reserved
    await c.request({ type: 'subscribe', channel: 'sys.stats' });
    c.close();

    const s = await start({ operations: { authorize: (conn) => conn.userId === null } });
    failPublishesOf(s);
    const watcher = await RawClient.open(s.url);
    await watcher.request({ type: 'subscribe', channel: 'sys.dlq' });
    await watcher.request({ type: 'subscribe', channel: 'sys.error-recovery' });
    await s.service.queue.broadcast('news', 'fail', 'x', { attempts: 2, backoff: 30 });
    const retry = await watcher.next((f) => f.type === 'message' && f.event === 'retry-started', 3000);
    expect(retry).toMatchObject({ channel: 'sys.error-recovery', data: { queue: 'broadcasts', attempt: 2 } });
    const dead = await watcher.next((f) => f.type === 'message' && f.event === 'entry-added', 3000);
    expect(dead).toMatchObject({ channel: 'sys.dlq', data: { queue: 'broadcasts', name: 'broadcast' } });
    watcher.close();
  });
});

describe('webhooks from the service', () => {
  it('channel_occupied reaches the endpoint, signed; breakers and webhooks show in /health, /stats and /metrics', async () => {
    const hook = await receiver();
    const s = await start({
      http: { apiKey: API_KEY },
      lifecycle: { vacateGraceMs: 100 },
      webhooks: [{ url: hook.url, secret: 'a-webhook-secret-of-some-length', key: 'app-key' }],
    });
    const c = await RawClient.open(s.url);
    await c.request({ type: 'subscribe', channel: 'room' });
    await c.request({ type: 'unsubscribe', channel: 'room' });
    await waitFor(
      () => hook.requests.length >= 1 && hook.requests.some((r) => r.body.includes('channel_vacated')),
      5000,
    );
    const names = hook.requests.flatMap((r) =>
      (JSON.parse(r.body) as { events: { name: string }[] }).events.map((e) => e.name),
    );
    expect(names).toEqual(['channel_occupied', 'channel_vacated']);
    expect(hook.requests[0]!.headers['x-pusher-key']).toBe('app-key');
    expect(hook.requests[0]!.headers['x-pusher-signature']).toMatch(/^[0-9a-f]{64}$/);

    const health = (await (await fetch(`${s.baseUrl}/health`)).json()) as { breakers?: unknown[] };
    expect(health.breakers).toEqual(expect.arrayContaining([expect.objectContaining({ state: 'closed' })]));
    const stats = (await (await fetch(`${s.baseUrl}/stats`)).json()) as { webhooks?: { delivered: number } };
    expect(stats.webhooks?.delivered).toBeGreaterThanOrEqual(1);
    const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/unisocket_circuit_breaker_state\{breaker="webhook:[^"]+",state="closed"\} 1/);
    expect(metrics).toMatch(/unisocket_webhook_deliveries_total\{result="delivered"\} [1-9]/);
    expect(metrics).toMatch(/unisocket_queue_jobs\{queue="webhooks",state="completed"\}/);
    c.close();
  });
});
