import { afterEach, describe, expect, it } from 'vitest';
import { demoAuthFromEnv, signConnectionToken } from '../src/index';
import { RawClient, type TestServer, startServer, upgrade } from './helpers';

const JWT_SECRET = 'demo-secret-that-is-at-least-32-bytes-long';
const servers: TestServer[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('demoAuthFromEnv (DESIGN §6)', () => {
  it('with JWT_SECRET: signed-in users join presence-lobby and their user channel; nothing else private', async () => {
    const s = await start(demoAuthFromEnv({ JWT_SECRET }));
    const token = await signConnectionToken({ secret: JWT_SECRET, userId: 'ada', info: { name: 'Ada' } });
    const ada = await RawClient.open(`${s.url}?token=${token}`);
    expect(ada.frames[0]).toMatchObject({ userId: 'ada' });
    expect(await ada.request({ type: 'subscribe', channel: 'presence-lobby' })).toMatchObject({
      type: 'ack',
      members: [{ userId: 'ada', info: { name: 'Ada' } }],
    });
    expect(await ada.request({ type: 'subscribe', channel: 'user:ada' })).toMatchObject({ type: 'ack' });
    expect(await ada.request({ type: 'subscribe', channel: 'presence-other' })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await ada.request({ type: 'subscribe', channel: 'private-x' })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await ada.request({ type: 'publish', channel: 'presence-lobby', event: 'client-typing' })).toMatchObject({
      type: 'ack',
    });
    expect(await ada.request({ type: 'publish', channel: 'chat.lobby', event: 'say', data: 'hi' })).toMatchObject({
      type: 'ack',
    });

    const anon = await RawClient.open(s.url);
    const refused = await anon.request({ type: 'subscribe', channel: 'presence-lobby' });
    expect(refused).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(String(refused.message)).toMatch(/signed-in users/);
    expect(await anon.request({ type: 'auth', token })).toMatchObject({ type: 'ack', userId: 'ada' });
    expect(await anon.request({ type: 'subscribe', channel: 'presence-lobby' })).toMatchObject({ type: 'ack' });
  });

  it('without JWT_SECRET: private and presence refused, public publish allowed', async () => {
    const s = await start(demoAuthFromEnv({}));
    const c = await RawClient.open(s.url);
    expect(await c.request({ type: 'subscribe', channel: 'presence-lobby' })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await c.request({ type: 'subscribe', channel: 'private-x' })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await c.request({ type: 'publish', channel: 'chat.lobby', event: 'say' })).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'auth', token: 'x' })).toMatchObject({
      code: 'UNAUTHORIZED',
      message: expect.stringMatching(/not configured/),
    });
  });

  it('CORS_ORIGIN restricts browser origins; a short JWT_SECRET is refused with a clear message', async () => {
    const s = await start(demoAuthFromEnv({ CORS_ORIGIN: 'http://localhost:3000, https://demo.test' }));
    expect((await upgrade(s.url, { headers: { origin: 'https://demo.test' } })).status).toBe(101);
    expect((await upgrade(s.url, { headers: { origin: 'https://evil.test' } })).status).toBe(403);
    expect(() => demoAuthFromEnv({ JWT_SECRET: 'secret' })).toThrow(/JWT_SECRET is 6 bytes.*openssl rand/);
  });
});
