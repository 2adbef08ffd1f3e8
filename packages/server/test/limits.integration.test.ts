import { connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_ADMISSION_LIMITS, DEFAULT_SECURITY_OPTIONS } from '../src/index';
import { DEFAULT_HUB_LIMITS } from '@unisocket/core';
import { RawClient, type TestServer, sleep, startServer, upgrade, waitFor } from './helpers';

const servers: TestServer[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** An auth hook that takes its time: upgrades stay in flight while it runs. */
const slowAuth = (ms: number) => ({
  authenticate: async () => {
    await sleep(ms);
    return null;
  },
});

/** Sends a raw HTTP upgrade request and returns the socket (the caller destroys it). */
function rawUpgrade(port: number, path: string, key: string | undefined): ReturnType<typeof tcpConnect> {
  const socket = tcpConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `${key === undefined ? '' : `Sec-WebSocket-Key: ${key}\r\n`}Sec-WebSocket-Version: 13\r\n\r\n`,
  );
  return socket;
}

describe('limits at upgrade', () => {
  it('defaults protect a small server', () => {
    expect(DEFAULT_ADMISSION_LIMITS).toEqual({ maxConnections: 10_000, maxConnectionsPerIp: 100 });
    expect(DEFAULT_HUB_LIMITS).toMatchObject({
      maxPayloadBytes: 65_536,
      messagesPerSecond: 100,
      maxSubscriptionsPerConnection: 100,
    });
    expect(DEFAULT_SECURITY_OPTIONS).toEqual({
      allowedOrigins: ['*'],
      allowMissingOrigin: true,
      allowSameOrigin: true,
      trustProxy: false,
    });
  });

  it('maxConnections: 503 at upgrade, the slot comes back when a connection closes', async () => {
    const s = await start({ limits: { maxConnections: 2 } });
    const a = await RawClient.open(s.url);
    await RawClient.open(s.url);
    const refused = await upgrade(s.url);
    expect(refused).toMatchObject({ status: 503, body: { error: 'UNAVAILABLE' } });
    expect(String(refused.body!.message)).toMatch(/connection limit \(2\)/);
    a.close();
    await a.waitClose();
    await waitFor(() => s.service.getConnectionCount() === 1);
    expect((await upgrade(s.url)).status).toBe(101);
  });

  it('a burst cannot overshoot while upgrades are in flight: per IP (429) and per node (503)', async () => {
    const perIp = await start({ auth: slowAuth(150), limits: { maxConnectionsPerIp: 3 } });
    const results = await Promise.all(Array.from({ length: 10 }, () => upgrade(perIp.url)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([101, 101, 101, 429, 429, 429, 429, 429, 429, 429]);
    expect(perIp.service.getConnectionCount()).toBe(3);

    const perNode = await start({ auth: slowAuth(150), limits: { maxConnections: 4 } });
    const burst = await Promise.all(Array.from({ length: 10 }, () => upgrade(perNode.url)));
    expect(burst.filter((r) => r.status === 101)).toHaveLength(4);
    expect(burst.filter((r) => r.status === 503)).toHaveLength(6);
  });

  it('releases the reservation of an upgrade that is abandoned or invalid', async () => {
    const s = await start({ auth: slowAuth(150), limits: { maxConnectionsPerIp: 1 } });
    // the client goes away while its token is being checked
    const gone = rawUpgrade(s.port, '/ws', 'dGhlIHNhbXBsZSBub25jZQ==');
    await sleep(30);
    gone.destroy();
    await sleep(250);
    // the handshake is invalid (no Sec-WebSocket-Key): ws answers 400 after admission
    const invalid = rawUpgrade(s.port, '/ws', undefined);
    const answer = await new Promise<string>((resolve) => invalid.once('data', (d: Buffer) => resolve(d.toString())));
    expect(answer).toMatch(/^HTTP\/1.1 400/);
    invalid.destroy();
    await sleep(50);
    expect((await upgrade(s.url)).status).toBe(101);
    expect((await upgrade(s.url)).status).toBe(429);
  });

  it('trustProxy takes the client address from X-Forwarded-For, never from entries the client wrote', async () => {
    const direct = await start({ limits: { maxConnectionsPerIp: 1 } });
    expect((await upgrade(direct.url, { headers: { 'x-forwarded-for': '1.1.1.1' } })).status).toBe(101);
    expect((await upgrade(direct.url, { headers: { 'x-forwarded-for': '2.2.2.2' } })).status).toBe(429);

    const proxied = await start({ limits: { maxConnectionsPerIp: 1 }, security: { trustProxy: true } });
    const first = await RawClient.open(proxied.url, { headers: { 'x-forwarded-for': '1.1.1.1' } });
    expect([...proxied.service.hub.connections()].map((c) => c.ip)).toEqual(['1.1.1.1']);
    expect((await upgrade(proxied.url, { headers: { 'x-forwarded-for': '2.2.2.2' } })).status).toBe(101);
    // a forged left-most entry does not buy a new address: the proxy appended the real one
    expect((await upgrade(proxied.url, { headers: { 'x-forwarded-for': '9.9.9.9, 1.1.1.1' } })).status).toBe(429);
    first.close();
  });

  it('allowedOrigins: other browser origins get 403 at upgrade; requests without Origin are configurable', async () => {
    const s = await start({ security: { allowedOrigins: ['https://app.test', 'https://*.example.test'] } });
    const status = async (origin?: string) =>
      (await upgrade(s.url, origin === undefined ? {} : { headers: { origin } })).status;
    expect(await status('https://app.test')).toBe(101);
    expect(await status('https://a.b.example.test')).toBe(101);
    expect(await status('https://example.test')).toBe(403);
    expect(await status('https://app.test.evil.test')).toBe(403);
    expect(await status('http://app.test')).toBe(403);
    expect(await status(undefined)).toBe(101);
    const refused = await upgrade(s.url, { headers: { origin: 'https://evil.test' } });
    expect(refused.body).toMatchObject({ error: 'FORBIDDEN' });
    expect(String(refused.body!.message)).toMatch(/"https:\/\/evil.test" is not allowed/);
    expect(s.service.refusedUpgrades.origin).toBe(4);
    expect(await s.service.monitor.prometheus.metrics()).toMatch(
      /^unisocket_upgrades_refused_total\{reason="origin"\} 4$/m,
    );

    // a page served by this very host is not cross-site (allowSameOrigin, on by default)
    expect(await status(`http://127.0.0.1:${s.port}`)).toBe(101);
    expect(await status(`http://127.0.0.1:${s.port + 1}`)).toBe(403);

    const strict = await start({
      security: { allowedOrigins: ['https://app.test'], allowMissingOrigin: false, allowSameOrigin: false },
    });
    expect((await upgrade(strict.url)).status).toBe(403);
    expect((await upgrade(strict.url, { headers: { origin: `http://127.0.0.1:${strict.port}` } })).status).toBe(403);
  });
});

describe('limits on a connection (defaults)', () => {
  it('rate limit: RATE_LIMITED errors past the burst, then close 4029 when it persists', async () => {
    const s = await start();
    const c = await RawClient.open(s.url);
    // frames of 100 commands: the bucket holds 200 (twice the rate); past it each command is refused, and more than
    // 100 refusals in a row close. Keep sending until then (on a loaded machine the bucket refills between frames).
    let ref = 0;
    for (let frame = 0; frame < 200 && c.closed === undefined; frame++) {
      c.send(Array.from({ length: 100 }, () => JSON.stringify({ type: 'ping', ref: ref++ })).join('\n'));
      if (frame >= 3) await sleep(5);
    }
    const closed = await c.waitClose();
    expect(closed.code).toBe(4029);
    const pongs = c.frames.filter((f) => f.type === 'pong').length;
    const limited = c.frames.filter((f) => f.type === 'error' && f.code === 'RATE_LIMITED');
    expect(pongs).toBeGreaterThanOrEqual(200);
    expect(limited.length).toBeGreaterThan(100);
    expect(pongs + limited.length).toBeLessThanOrEqual(ref);
    expect(String(limited[0]!.message)).toMatch(/100 commands per second/);
  });

  it('maxPayloadBytes: a frame over 64 KiB closes with 1009', async () => {
    const s = await start();
    const c = await RawClient.open(s.url);
    c.send({ type: 'publish', channel: 'x', event: 'e', data: 'y'.repeat(70_000) });
    expect((await c.waitClose()).code).toBe(1009);
  });

  it('invalid UTF-8 in a text frame closes with 1007; a binary frame gets an error and the connection stays', async () => {
    const s = await start();
    const c = await RawClient.open(s.url);
    c.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
    expect(await c.next((f) => f.type === 'error')).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/binary/),
    });
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await c.waitClose()).code).toBe(1007);
  });

  it('max subscriptions per connection: LIMIT_EXCEEDED past 100', async () => {
    const s = await start({ limits: { messagesPerSecond: 1_000 } });
    const c = await RawClient.open(s.url);
    c.send(
      Array.from({ length: 100 }, (_, i) => JSON.stringify({ type: 'subscribe', channel: `ch.${i}`, ref: i })).join(
        '\n',
      ),
    );
    await c.next((f) => f.type === 'ack' && f.ref === 99);
    const over = await c.request({ type: 'subscribe', channel: 'ch.100' });
    expect(over).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED' });
    expect(String(over.message)).toMatch(/at most 100 subscriptions/);
    expect(await c.request({ type: 'unsubscribe', channel: 'ch.0' })).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'subscribe', channel: 'ch.100' })).toMatchObject({ type: 'ack' });
  });
});
