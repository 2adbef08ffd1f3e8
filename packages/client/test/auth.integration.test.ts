import { ErrorCode, type HubOptions, UnisocketError } from '@unisocket/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { PresenceChange } from '../src/index';
import {
  type HubServer,
  TrackedWebSocket,
  cleanupClients,
  sleep,
  startHubServer,
  testClient,
  waitFor,
} from './helpers';

const servers: HubServer[] = [];
afterEach(async () => {
  cleanupClients();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A server whose tokens are `ok:<userId>`; anything else is refused. Signed-in users may join any channel. */
async function start(overrides: Partial<HubOptions> = {}): Promise<HubServer & { connections: () => number }> {
  let connections = 0;
  const s = await startHubServer({
    heartbeatMs: 25_000,
    presence: { leaveGraceMs: 0 },
    policy: {
      authenticate: (_conn, token) => {
        if (!token.startsWith('ok:')) throw new UnisocketError(ErrorCode.UNAUTHORIZED, 'invalid token');
        const userId = token.slice(3);
        return { userId, info: { name: userId.toUpperCase() } };
      },
      authorizeSubscribe: (conn, _channel, { kind }) => kind === 'public' || conn.userId !== null,
      authorizePublish: (conn) => conn.userId !== null,
    },
    ...overrides,
  });
  s.hub.on('connection', () => connections++);
  servers.push(s);
  return { ...s, connections: () => connections };
}

describe('auth', () => {
  it('sends the token after welcome and exposes the user', async () => {
    const s = await start();
    const client = testClient(s.url, { token: 'ok:u1' });
    await client.connect();
    expect(client.getSnapshot()).toMatchObject({ status: 'connected', userId: 'u1' });
  });

  it('stops at unauthorized for a refused static token, without a reconnect loop', async () => {
    const s = await start();
    const client = testClient(s.url, { token: 'bad' });
    await expect(client.connect()).rejects.toMatchObject({ code: 'UNAUTHORIZED', closeCode: 4001 });
    expect(client.getSnapshot()).toMatchObject({ status: 'unauthorized', lastError: { code: 'UNAUTHORIZED' } });
    await sleep(300);
    expect(s.connections()).toBe(1);
    expect(s.hub.connectionCount).toBe(0);
  });

  it('with getToken, retries a refused token with backoff and a fresh token', async () => {
    const s = await start();
    const tokens = ['bad', 'still-bad', 'ok:u2'];
    let calls = 0;
    const client = testClient(s.url, { getToken: async () => tokens[Math.min(calls++, tokens.length - 1)]! });
    await client.connect();
    expect(calls).toBe(3);
    expect(client.getSnapshot().userId).toBe('u2');
  });

  it('on close 4001 reconnects with a fresh token from getToken; with a static token it stops', async () => {
    const s = await start();
    let calls = 0;
    const withGetToken = testClient(s.url, { getToken: () => `ok:g${++calls}` });
    const withStatic = testClient(s.url, { token: 'ok:s' });
    await Promise.all([withGetToken.connect(), withStatic.connect()]);
    for (const conn of [...s.hub.connections()]) s.hub.disconnect(conn, 4001, 'token expired');
    await waitFor(
      () => withGetToken.getSnapshot().status === 'connected' && withGetToken.getSnapshot().userId === 'g2',
      5_000,
      'a reconnect with token 2',
    );
    await waitFor(() => withStatic.getSnapshot().status === 'unauthorized');
    expect(withStatic.getSnapshot().lastError).toMatchObject({ code: 'UNAUTHORIZED', closeCode: 4001 });
  });

  it('answers a refresh frame with auth carrying a fresh token', async () => {
    const s = await start();
    let calls = 0;
    const client = testClient(s.url, { getToken: () => `ok:u${(calls++, 1)}` });
    const refreshes: number[] = [];
    client.on('refresh', (r) => refreshes.push(r.graceMs));
    await client.connect();
    let authenticated = 0;
    s.hub.on('authenticated', () => authenticated++);
    const conn = s.hub.getConnection(client.getSnapshot().connectionId!)!;
    conn.send({ type: 'refresh', expiresAt: Date.now() + 1_000, graceMs: 500 });
    await waitFor(() => authenticated === 1, 5_000, 'a second auth');
    expect(calls).toBe(2);
    expect(refreshes).toEqual([500]);
    expect(client.getSnapshot()).toMatchObject({ status: 'connected', userId: 'u1' });
  });

  it('recovers its personal channel across a reconnect (the server re-attaches it on auth)', async () => {
    const s = await start();
    const client = testClient(s.url, { token: 'ok:u1' });
    await client.connect();
    const got: number[] = [];
    await client.subscribe('user:u1', { onMessage: (m) => got.push(m.data as number) }).whenSubscribed();
    for (let i = 1; i <= 5; i++) await s.hub.publish('user:u1', 'note', i);
    await waitFor(() => got.length === 5);
    TrackedWebSocket.latestOpen()!.terminate();
    for (let i = 6; i <= 40; i++) {
      await s.hub.publish('user:u1', 'note', i);
      if (i % 5 === 0) await sleep(2);
    }
    await waitFor(() => got.length >= 40, 5_000, '40 notes');
    await sleep(50);
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });
});

describe('presence and whisper', () => {
  it('tracks members from the ack and join/leave frames; presence() resolves members', async () => {
    const s = await start();
    const a = testClient(s.url, { token: 'ok:ann' });
    const b = testClient(s.url, { token: 'ok:bob' });
    await Promise.all([a.connect(), b.connect()]);
    const changes: PresenceChange[] = [];
    const roomA = a.subscribe('presence-room', { onPresence: (c) => changes.push(c) });
    await roomA.whenSubscribed();
    expect(roomA.members).toEqual([{ userId: 'ann', info: { name: 'ANN' } }]);
    const roomB = b.subscribe('presence-room');
    await roomB.whenSubscribed();
    expect(roomB.members!.map((m) => m.userId).sort()).toEqual(['ann', 'bob']);
    await waitFor(() => roomA.members?.length === 2, 5_000, 'bob to join');
    expect(changes[0]).toMatchObject({ action: 'join', member: { userId: 'bob' } });
    expect((await a.presence('presence-room')).map((m) => m.userId).sort()).toEqual(['ann', 'bob']);
    roomB.unsubscribe();
    await waitFor(() => roomA.members?.length === 1, 5_000, 'bob to leave');
    expect(changes.at(-1)).toMatchObject({ action: 'leave', member: { userId: 'bob' }, members: [{ userId: 'ann' }] });
    expect(a.getSnapshot().channels['presence-room']!.members).toEqual([{ userId: 'ann', info: { name: 'ANN' } }]);
  });

  it('whisper publishes a client-<event> to the other members', async () => {
    const s = await start();
    const a = testClient(s.url, { token: 'ok:ann' });
    const b = testClient(s.url, { token: 'ok:bob' });
    await Promise.all([a.connect(), b.connect()]);
    const typing: unknown[] = [];
    await a.subscribe('private-chat', { events: { 'client-typing': (d) => typing.push(d) } }).whenSubscribed();
    await b.subscribe('private-chat').whenSubscribed();
    const ack = await b.whisper('private-chat', 'typing', { user: 'bob' });
    expect(ack.offset).toBe(1);
    await waitFor(() => typing.length === 1);
    expect(typing).toEqual([{ user: 'bob' }]);
  });
});
