import { afterEach, describe, expect, it } from 'vitest';
import { signConnectionToken } from '../src/index';
import { RawClient, SioClient, type TestServer, connectError, startServer, waitFor } from './helpers';

/** Authentication and admission on the Socket.IO transport: the same `#admit` as the native transport. */
const SECRET = 'test-secret-that-is-at-least-32-bytes-long';
const both = { transports: ['native', 'socketio'] } as { transports: ('native' | 'socketio')[] };
const servers: TestServer[] = [];
const clients: (SioClient | RawClient)[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
async function sio(s: TestServer, options?: ConstructorParameters<typeof SioClient>[1]): Promise<SioClient> {
  const c = await SioClient.open(s.baseUrl, options);
  clients.push(c);
  return c;
}
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const token = (userId: string, extra: Partial<Parameters<typeof signConnectionToken>[0]> = {}): Promise<string> =>
  signConnectionToken({ secret: SECRET, userId, ...extra });

describe('Socket.IO admission and JWT auth (socket.io-client)', () => {
  it("accepts the handshake's auth.token, and the header, query and cookie like the native transport", async () => {
    const s = await start({
      ...both,
      auth: { jwt: { secret: SECRET }, cookie: 'session', authorizeChannel: () => true },
      security: { allowedOrigins: ['http://app.test'] },
    });
    const viaAuth = await sio(s, { auth: { token: await token('u1', { info: { name: 'One' } }) } });
    expect(viaAuth.events[0]?.frame).toMatchObject({ type: 'welcome', userId: 'u1' });
    const viaHeader = await sio(s, { extraHeaders: { authorization: `Bearer ${await token('u2')}` } });
    expect(viaHeader.events[0]?.frame).toMatchObject({ type: 'welcome', userId: 'u2' });
    const viaQuery = await sio(s, { query: { token: await token('u3') } });
    expect(viaQuery.events[0]?.frame).toMatchObject({ type: 'welcome', userId: 'u3' });
    const viaCookie = await sio(s, {
      extraHeaders: { cookie: `session=${await token('u4')}`, origin: 'http://app.test' },
    });
    expect(viaCookie.events[0]?.frame).toMatchObject({ type: 'welcome', userId: 'u4' });
    // the handshake token comes first: a header token is not looked at
    const both2 = await sio(s, {
      auth: { token: await token('u5') },
      extraHeaders: { authorization: 'Bearer not-a-jwt' },
    });
    expect(both2.events[0]?.frame).toMatchObject({ userId: 'u5' });
    // the personal channel is subscribed automatically; the token's info is the presence info
    await s.service.sendUserNotification('u1', { hello: 1 });
    expect(await viaAuth.next('message')).toMatchObject({ channel: 'user:u1', data: { hello: 1 } });
    expect(await viaAuth.request('subscribe', { channel: 'presence-room' })).toMatchObject({
      members: [{ userId: 'u1', info: { name: 'One' } }],
    });
    // users on both transports are one user set
    const native = await RawClient.open(`${s.url}?token=${await token('u1')}`);
    clients.push(native);
    expect(s.service.getConnectionCount('u1')).toBe(2);
    expect(
      s.service
        .getChannelSubscribers('user:u1')
        .map((c) => c.transport)
        .sort(),
    ).toEqual(['native', 'socketio']);
  });

  it('refuses a bad handshake token with connect_error UNAUTHORIZED 401, before any connection exists', async () => {
    const s = await start({ ...both, auth: { jwt: { secret: SECRET }, required: true } });
    const bad = await connectError(s.baseUrl, {
      auth: { token: await signConnectionToken({ secret: 'another-secret-that-is-at-least-32-bytes', userId: 'u' }) },
    });
    expect(bad.message).toMatch(/signature/);
    expect(bad.data).toMatchObject({ type: 'error', code: 'UNAUTHORIZED', status: 401 });
    const expired = await connectError(s.baseUrl, { auth: { token: await token('u', { expiresIn: -60 }) } });
    expect(expired.message).toMatch(/expired/);
    const missing = await connectError(s.baseUrl);
    expect(missing).toMatchObject({
      message: expect.stringMatching(/authentication required/),
      data: { code: 'UNAUTHORIZED', status: 401 },
    });
    expect(s.service.getConnectionCount()).toBe(0);
    expect(s.service.refusedUpgrades.unauthorized).toBe(3);
    // nothing is left reserved: a good token gets in, up to the limits
    expect((await sio(s, { auth: { token: await token('ok') } })).events[0]?.frame).toMatchObject({ userId: 'ok' });
    await waitFor(() => s.service.io.engine.clientsCount === 1, 2000, 'refused engine.io connections to close');
  });

  it('sends refresh before exp; an auth with a new token keeps it; without one: close event 4001, io server disconnect', async () => {
    const s = await start({
      ...both,
      auth: { jwt: { secret: SECRET, clockToleranceSec: 0 }, refreshLeadMs: 1_000, refreshGraceMs: 600 },
    });
    const kept = await sio(s, { auth: { token: await token('u1', { expiresIn: 2 }) } });
    const dropped = await sio(s, { auth: { token: await token('u2', { expiresIn: 2 }) } });
    const refresh = await kept.next('refresh', () => true, 3_000);
    expect(refresh).toEqual({ type: 'refresh', expiresAt: expect.any(Number), graceMs: 600 });
    const ack = await kept.request('auth', { token: await token('u1', { expiresIn: 60 }) });
    expect(ack).toMatchObject({ type: 'ack', userId: 'u1', expiresAt: expect.any(Number) });
    expect(await kept.request('auth', { token: await token('someone-else', { expiresIn: 60 }) })).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
    });
    await dropped.next('refresh', () => true, 3_000);
    expect(await dropped.next('close', () => true, 4_000)).toEqual({
      type: 'close',
      code: 4001,
      reason: expect.any(String),
    });
    expect(await dropped.waitDisconnect()).toBe('io server disconnect');
    expect(kept.socket.connected).toBe(true);
  });

  it('reserves and releases connection slots across both transports (per IP)', async () => {
    const s = await start({ ...both, limits: { maxConnectionsPerIp: 2 } });
    const a = await sio(s);
    const b = await RawClient.open(s.url);
    clients.push(b);
    expect((await connectError(s.baseUrl)).data).toMatchObject({ code: 'LIMIT_EXCEEDED', status: 429 });
    a.close();
    await waitFor(() => s.service.getConnectionCount() === 1, 2000, 'the Socket.IO connection to go');
    // its slot is free again
    const c = await sio(s);
    expect(c.socket.connected).toBe(true);
    b.close();
    await waitFor(() => s.service.getConnectionCount() === 1, 2000, 'the native connection to go');
    await sio(s);
    expect(s.service.getConnectionCount()).toBe(2);
  });

  it('refuses origins that security.allowedOrigins does not list (connect_error FORBIDDEN, 1008)', async () => {
    const s = await start({ ...both, security: { allowedOrigins: ['http://app.test'] } });
    const evil = await connectError(s.baseUrl, { extraHeaders: { origin: 'http://evil.test' } });
    expect(evil.data).toMatchObject({ code: 'FORBIDDEN', status: 403, closeCode: 1008 });
    const good = await sio(s, { extraHeaders: { origin: 'http://app.test' } });
    expect(good.socket.connected).toBe(true);
  });
});
