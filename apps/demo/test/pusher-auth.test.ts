import { signConnectionToken } from '@unisocket/server';
import Pusher from 'pusher';
import { afterEach, describe, expect, it } from 'vitest';
import { type Demo, startDemo } from '../src/demo';
import { pusherAppFromEnv } from '../src/pusher-auth';

const JWT_SECRET = 'a-demo-jwt-secret-of-at-least-32-bytes!!';
const demos: Demo[] = [];
afterEach(async () => {
  await Promise.all(demos.splice(0).map((d) => d.close()));
});

async function demo(env: NodeJS.ProcessEnv): Promise<Demo> {
  const d = await startDemo({ env: { BROKER: 'memory', ...env }, port: 0, log: () => {}, ticker: false });
  demos.push(d);
  return d;
}
async function post(
  d: Demo,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${d.url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("the demo's Laravel Echo auth endpoints", () => {
  it('sign private, presence and user auth for the token subject exactly as the pusher SDK does', async () => {
    const d = await demo({ JWT_SECRET, PUSHER_APP_ID: 'app-x', PUSHER_APP_KEY: 'key-x', PUSHER_APP_SECRET: 's3cret' });
    expect(d.pusherApp).toEqual({ id: 'app-x', key: 'key-x', secret: 's3cret' });
    const sdk = new Pusher({ appId: 'app-x', key: 'key-x', secret: 's3cret', cluster: 'mt1' });
    const token = await signConnectionToken({ secret: JWT_SECRET, userId: 'ada', info: { name: 'Ada' } });
    const bearer = { authorization: `Bearer ${token}` };

    const priv = await post(d, '/broadcasting/auth', 'socket_id=123.456&channel_name=private-orders', bearer);
    expect(priv).toEqual({ status: 200, body: sdk.authorizeChannel('123.456', 'private-orders') });

    const presence = await post(
      d,
      '/broadcasting/auth',
      JSON.stringify({ socket_id: '123.456', channel_name: 'presence-lobby' }),
      { ...bearer, 'content-type': 'application/json' },
    );
    expect(presence).toEqual({
      status: 200,
      body: sdk.authorizeChannel('123.456', 'presence-lobby', { user_id: 'ada', user_info: { name: 'Ada' } }),
    });

    const user = await post(d, '/broadcasting/user-auth', 'socket_id=123.456', bearer);
    expect(user).toEqual({
      status: 200,
      body: sdk.authenticateUser('123.456', { id: 'ada', user_info: { name: 'Ada' } }),
    });
  });

  it('403 for private and presence without a valid token or without JWT_SECRET; 400 for public channels', async () => {
    const withJwt = await demo({ JWT_SECRET });
    const form = 'socket_id=1.2&channel_name=presence-lobby';
    expect((await post(withJwt, '/broadcasting/auth', form)).status).toBe(403);
    expect((await post(withJwt, '/broadcasting/auth', form, { authorization: 'Bearer nope' })).status).toBe(403);
    const forged = await signConnectionToken({ secret: `${JWT_SECRET}-other`, userId: 'eve' });
    expect(
      (await post(withJwt, '/broadcasting/user-auth', 'socket_id=1.2', { authorization: `Bearer ${forged}` })).status,
    ).toBe(403);
    expect((await post(withJwt, '/broadcasting/auth', 'socket_id=1.2&channel_name=news')).status).toBe(400);

    const open = await demo({});
    expect(open.pusherApp).toEqual({ id: 'unisocket-demo', key: 'demo-app-key', secret: 'demo-app-secret' });
    const token = await signConnectionToken({ secret: JWT_SECRET, userId: 'ada' });
    const res = await post(open, '/broadcasting/auth', 'socket_id=1.2&channel_name=private-x', {
      authorization: `Bearer ${token}`,
    });
    expect(res).toMatchObject({ status: 403, body: { message: /JWT_SECRET/ } });
  });

  it('PUSHER_APP_SECRET is required in production', () => {
    expect(() => pusherAppFromEnv({ NODE_ENV: 'production' })).toThrow(/PUSHER_APP_SECRET is required/);
    expect(pusherAppFromEnv({ NODE_ENV: 'production', PUSHER_APP_SECRET: 'x'.repeat(40) }).secret).toBe('x'.repeat(40));
  });
});
