import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createUnifiedWebSocketService, signChannelToken, signConnectionToken } from '../src/index';
import { RawClient, type TestServer, sleep, startServer, upgrade } from './helpers';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long';
const servers: TestServer[] = [];
const extra: Server[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const server of extra.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

const token = (
  userId: string,
  extraOptions: Partial<Parameters<typeof signConnectionToken>[0]> = {},
): Promise<string> => signConnectionToken({ secret: SECRET, userId, ...extraOptions });

describe('connection auth with JWT', () => {
  it('takes the token from the Authorization header, the query, or a cookie; sub is the user, info its presence info', async () => {
    const s = await start({
      auth: { jwt: { secret: SECRET }, cookie: 'session', authorizeChannel: () => true },
      security: { allowedOrigins: ['http://app.test'] },
    });
    const viaHeader = await RawClient.open(s.url, { headers: { authorization: `Bearer ${await token('u1')}` } });
    expect(viaHeader.frames[0]).toMatchObject({ type: 'welcome', userId: 'u1' });
    const viaQuery = await RawClient.open(`${s.url}?token=${await token('u2', { info: { name: 'Two' } })}`);
    expect(viaQuery.frames[0]).toMatchObject({ type: 'welcome', userId: 'u2' });
    const viaCookie = await RawClient.open(s.url, {
      headers: { cookie: `theme=dark; session=${await token('u3')}`, origin: 'http://app.test' },
    });
    expect(viaCookie.frames[0]).toMatchObject({ type: 'welcome', userId: 'u3' });
    // the personal channel is subscribed automatically
    await s.service.sendUserNotification('u1', { hello: 1 });
    expect(await viaHeader.next((f) => f.type === 'message')).toMatchObject({ channel: 'user:u1', data: { hello: 1 } });
    // info from the token is the presence info
    const ack = await viaQuery.request({ type: 'subscribe', channel: 'presence-room' });
    expect(ack.members).toEqual([{ userId: 'u2', info: { name: 'Two' } }]);
    expect(s.service.getAllConnectedUsers().sort()).toEqual(['u1', 'u2', 'u3']);
  });

  it('refuses invalid tokens at upgrade with 401 and a reason, before the WebSocket exists', async () => {
    const s = await start({ auth: { jwt: { secret: SECRET, issuer: 'https://issuer.test' } } });
    const cases: [string, RegExp][] = [
      [
        await signConnectionToken({
          secret: 'another-secret-that-is-at-least-32-bytes',
          userId: 'u',
          issuer: 'https://issuer.test',
        }),
        /signature/,
      ],
      [await token('u', { issuer: 'https://issuer.test', expiresIn: -60 }), /expired/],
      [await token('u', { issuer: 'https://evil.test' }), /iss/],
      [
        await signChannelToken({ secret: SECRET, userId: 'u', channel: 'private-x', issuer: 'https://issuer.test' }),
        /subscription token/,
      ],
      [
        await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('u')
          .setIssuer('https://issuer.test')
          .sign(new TextEncoder().encode(SECRET)),
        /exp/,
      ],
      [
        await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer('https://issuer.test')
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode(SECRET)),
        /sub/,
      ],
      ['not-a-jwt', /malformed/],
      [`${'a'.repeat(20)}.${'b'.repeat(20)}.${'c'.repeat(20)}`, /malformed|invalid/],
    ];
    for (const [t, reason] of cases) {
      const result = await upgrade(s.url, { headers: { authorization: `Bearer ${t}` } });
      expect(result.status, String(reason)).toBe(401);
      expect(result.body).toMatchObject({ error: 'UNAUTHORIZED' });
      expect(String(result.body!.message)).toMatch(reason);
    }
    const badHeader = await upgrade(s.url, { headers: { authorization: 'Bearer   ' } });
    expect(badHeader.status).toBe(401);
    expect(String(badHeader.body!.message)).toMatch(/Bearer <token>/);
    expect(s.service.getConnectionCount()).toBe(0);
    expect(s.service.refusedUpgrades.unauthorized).toBe(cases.length + 1);
    // another scheme is not ours (a site behind HTTP basic auth): anonymous, not refused
    const basic = await RawClient.open(s.url, { headers: { authorization: 'Basic dTpw' } });
    expect(basic.frames[0]).toMatchObject({ userId: null });
  });

  it('required: true refuses upgrades without a token; otherwise anonymous connections may auth later', async () => {
    const strict = await start({ auth: { jwt: { secret: SECRET }, required: true, queryParam: false } });
    const missing = await upgrade(strict.url);
    expect(missing.status).toBe(401);
    expect(String(missing.body!.message)).toMatch(/authentication required.*Bearer/);
    // queryParam: false ignores the query string
    expect((await upgrade(`${strict.url}?token=${await token('u1')}`)).status).toBe(401);

    const open = await start({ auth: { jwt: { secret: SECRET } } });
    const anon = await RawClient.open(open.url);
    expect(anon.frames[0]).toMatchObject({ userId: null });
    const bad = await anon.request({ type: 'auth', token: 'garbage' });
    expect(bad).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    expect(String(bad.message)).toMatch(/malformed/);
    const ok = await anon.request({ type: 'auth', token: await token('u9', { expiresIn: 600 }) });
    expect(ok).toMatchObject({ type: 'ack', userId: 'u9', expiresAt: expect.any(Number) });
    expect(open.service.isUserConnected('u9')).toBe(true);
    const other = await anon.request({ type: 'auth', token: await token('u10') });
    expect(other).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(String(other.message)).toMatch(/authenticated as "u9"/);
  });

  it('verifies RS256 and ES256 with public keys, and refuses algorithm confusion', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const s1 = await start({ auth: { jwt: { publicKey: rsaPem } } });
    const rsToken = await signConnectionToken({ privateKey: rsa.privateKey, userId: 'rs' });
    expect((await RawClient.open(s1.url, { headers: { authorization: `Bearer ${rsToken}` } })).frames[0]).toMatchObject(
      { userId: 'rs' },
    );
    // HS256 signed with the public key's PEM as the secret: the classic confusion attack
    const confused = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('evil')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(rsaPem));
    const refused = await upgrade(s1.url, { headers: { authorization: `Bearer ${confused}` } });
    expect(refused.status).toBe(401);
    expect(String(refused.body!.message)).toMatch(/algorithm/);
    const s2 = await start({ auth: { jwt: { publicKey: ec.publicKey } } });
    const esToken = await signConnectionToken({ privateKey: ec.privateKey, userId: 'es' });
    expect(esToken.split('.')[0]).toBe(Buffer.from(JSON.stringify({ alg: 'ES256' })).toString('base64url'));
    expect((await RawClient.open(s2.url, { headers: { authorization: `Bearer ${esToken}` } })).frames[0]).toMatchObject(
      { userId: 'es' },
    );
  });

  it('verifies against a JWKS URL (kid picks the key); 503 when the keys cannot be fetched', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    extra.push(jwksServer);
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
    const s = await start({ auth: { jwt: { jwksUrl, audience: 'unisocket' } } });
    const good = await signConnectionToken({ privateKey, keyId: 'k1', userId: 'jw', audience: 'unisocket' });
    expect((await RawClient.open(s.url, { headers: { authorization: `Bearer ${good}` } })).frames[0]).toMatchObject({
      userId: 'jw',
    });
    const unknownKid = await signConnectionToken({ privateKey, keyId: 'k2', userId: 'jw', audience: 'unisocket' });
    const r1 = await upgrade(s.url, { headers: { authorization: `Bearer ${unknownKid}` } });
    expect(r1.status).toBe(401);
    const noAudience = await signConnectionToken({ privateKey, keyId: 'k1', userId: 'jw' });
    expect((await upgrade(s.url, { headers: { authorization: `Bearer ${noAudience}` } })).status).toBe(401);

    const deadPort = (jwksServer.address() as AddressInfo).port;
    const s2 = await start({ auth: { jwt: { jwksUrl: `http://127.0.0.1:${deadPort}/missing-then-closed` } } });
    jwksServer.closeAllConnections();
    await new Promise<void>((r) => jwksServer.close(() => r()));
    const r2 = await upgrade(s2.url, { headers: { authorization: `Bearer ${good}` } });
    expect(r2.status).toBe(503);
    expect(r2.body).toMatchObject({ error: 'UNAVAILABLE' });
  });

  it('a custom authenticate(req) hook replaces JWT, at upgrade and for the auth command', async () => {
    const seen: string[] = [];
    const s = await start({
      auth: {
        authenticate: ({ token, source, request, connection }) => {
          seen.push(`${source}:${request === undefined ? 'conn' : 'req'}:${connection === undefined ? '-' : 'c'}`);
          const session = request?.headers['x-session'] ?? token;
          if (session === undefined) return null;
          if (session !== 'valid-session') throw new Error('boom');
          return { userId: 'hooked', info: { via: source ?? 'header' }, expiresAt: Date.now() + 60_000 };
        },
      },
    });
    const a = await RawClient.open(s.url, { headers: { 'x-session': 'valid-session' } });
    expect(a.frames[0]).toMatchObject({ userId: 'hooked' });
    const b = await RawClient.open(s.url);
    expect(b.frames[0]).toMatchObject({ userId: null });
    expect(await b.request({ type: 'auth', token: 'valid-session' })).toMatchObject({ type: 'ack', userId: 'hooked' });
    expect(await b.request({ type: 'auth', token: 'nope' })).toMatchObject({
      type: 'error',
      code: 'UNAUTHORIZED',
      message: 'authentication failed',
    });
    expect(seen).toEqual(['undefined:req:-', 'undefined:req:-', 'command:conn:c', 'command:conn:c']);
    expect(await upgrade(s.url, { headers: { 'x-session': 'stolen' } })).toMatchObject({
      status: 401,
      body: { message: 'authentication failed' },
    });
    const seconds = await start({
      auth: { authenticate: () => ({ userId: 'u', expiresAt: Math.floor(Date.now() / 1000) + 60 }) },
    });
    const wrong = await upgrade(seconds.url);
    expect(wrong.status).toBe(500);
    expect(String(wrong.body!.message)).toMatch(/looks like seconds/);
  });
});

describe('token expiry during a connection', () => {
  // JWT exp has second resolution: a token "expiring in 2 s" expires 1-2 s from now
  const options = {
    auth: { jwt: { secret: SECRET, clockToleranceSec: 0 }, refreshLeadMs: 1_000, refreshGraceMs: 600 },
  };

  it('sends refresh before exp; refreshing with the same user keeps the connection', async () => {
    const s = await start(options);
    const c = await RawClient.open(s.url, {
      headers: { authorization: `Bearer ${await token('u1', { expiresIn: 2 })}` },
    });
    const refresh = await c.next((f) => f.type === 'refresh', 3_000);
    expect(refresh).toEqual({ type: 'refresh', expiresAt: expect.any(Number), graceMs: 600 });
    const expiresAt = refresh.expiresAt as number;
    expect(Date.now()).toBeLessThan(expiresAt);
    const ack = await c.request({ type: 'auth', token: await token('u1', { expiresIn: 60 }) });
    expect(ack).toMatchObject({ type: 'ack', userId: 'u1' });
    expect(ack.expiresAt as number).toBeGreaterThan(expiresAt + 30_000);
    await sleep(expiresAt + 600 + 400 - Date.now());
    expect(c.closed).toBeUndefined();
    expect(await c.request({ type: 'subscribe', channel: 'news' })).toMatchObject({ type: 'ack', channel: 'news' });
    expect(c.frames.filter((f) => f.type === 'refresh')).toHaveLength(1);
  });

  it('without a refresh: commands refused once expired, then closed with 4001 after the grace', async () => {
    const s = await start(options);
    const c = await RawClient.open(s.url, {
      headers: { authorization: `Bearer ${await token('u1', { expiresIn: 2 })}` },
    });
    const { expiresAt } = (await c.next((f) => f.type === 'refresh', 3_000)) as { expiresAt: number };
    await sleep(expiresAt + 100 - Date.now());
    const refused = await c.request({ type: 'subscribe', channel: 'news' });
    expect(refused).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    expect(String(refused.message)).toMatch(/expired/);
    // another user's token is no refresh
    expect(await c.request({ type: 'auth', token: await token('u2') })).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
    });
    const closed = await c.waitClose(3_000);
    expect(closed.code).toBe(4001);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt + 600 - 20);
    expect(c.frames.at(-1)).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    expect(s.service.hub.stats.authExpired).toBe(1);
  });

  it('a token authenticated by the auth command is enforced the same way', async () => {
    const s = await start(options);
    const c = await RawClient.open(s.url);
    await c.request({ type: 'auth', token: await token('u1', { expiresIn: 2 }) });
    await c.next((f) => f.type === 'refresh', 3_000);
    expect((await c.waitClose(4_000)).code).toBe(4001);
  });
});

describe('auth options', () => {
  it('throws TypeErrors that say what to change', () => {
    const make = (o: Parameters<typeof createUnifiedWebSocketService>[0]) => () => createUnifiedWebSocketService(o);
    expect(make({ auth: { jwt: {} } })).toThrow(/needs a key: set exactly one of secret/);
    expect(make({ auth: { jwt: { secret: SECRET, jwksUrl: 'https://x.test/jwks' } } })).toThrow(/secret and jwksUrl/);
    expect(make({ auth: { jwt: { secret: 'short' } } })).toThrow(/at least 32/);
    expect(make({ auth: { jwt: { secret: SECRET, algorithms: ['RS256'] } } })).toThrow(/does not fit/);
    expect(make({ auth: { jwt: { publicKey: 'not a pem' } } })).toThrow(/PEM/);
    expect(make({ auth: { jwt: { jwksUrl: 'ftp://x' } } })).toThrow(/http/);
    expect(make({ auth: { jwt: { secret: SECRET }, authenticate: () => null } })).toThrow(/exclusive/);
    expect(make({ auth: { required: true } })).toThrow(/auth.required needs/);
    expect(make({ auth: { jwt: { secret: SECRET }, cookie: 'sid' } })).toThrow(/allowedOrigins/);
    expect(make({ auth: { jwt: { secret: SECRET }, cookie: 'sid' }, security: { allowedOrigins: ['*'] } })).toThrow(
      /hijacking/,
    );
    expect(make({ auth: { subscriptionTokens: { jwt: true } } })).toThrow(/auth.jwt is not set/);
    expect(make({ auth: { subscriptionTokens: { hmac: { key: 'k', secret: 'short' } } } })).toThrow(/at least 32/);
    expect(make({ auth: { refreshGraceMs: -1 } })).toThrow(/refreshGraceMs/);
    expect(make({ auth: { jwt: { secret: SECRET, colour: 1 } as never } })).toThrow(/unknown option auth.jwt.colour/);
    expect(make({ auth: { queryParam: 'a b' } })).toThrow(/queryParam/);
    expect(make({ security: { allowedOrigins: ['https://x.test/path'] } })).toThrow(/not an origin/);
    expect(make({ security: { trustProxy: -1 } })).toThrow(/trustProxy/);
    expect(make({ permissions: { whisper: 'yes' as never } })).toThrow(/whisper/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(make({ auth: { jwt: { publicKey: rsa.privateKey } } })).toThrow(/private key/);
  });
});
