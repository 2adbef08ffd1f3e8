import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, UnisocketError, signChannelToken, signConnectionToken, signPusherAuth } from '../src/index';
import { RawClient, type TestServer, startServer } from './helpers';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long';
const OTHER_SECRET = 'a-different-secret-at-least-32-bytes-long';
const HMAC = { key: 'app-key', secret: 'hmac-secret-that-is-at-least-32-bytes-long' };

const servers: TestServer[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const openAs = async (s: TestServer, userId?: string): Promise<RawClient> =>
  RawClient.open(
    s.url,
    userId === undefined
      ? undefined
      : { headers: { authorization: `Bearer ${await signConnectionToken({ secret: SECRET, userId })}` } },
  );
const sub = (c: RawClient, channel: string, extra: Record<string, unknown> = {}) =>
  c.request({ type: 'subscribe', channel, ...extra });

describe('channel authorization', () => {
  it('without configuration: public open, private and presence refused with the reason', async () => {
    const s = await start();
    const c = await openAs(s);
    expect(await sub(c, 'news')).toMatchObject({ type: 'ack' });
    for (const channel of ['private-x', 'presence-x']) {
      const e = await sub(c, channel);
      expect(e).toMatchObject({ type: 'error', code: 'FORBIDDEN', channel });
      expect(String(e.message)).toMatch(/neither auth.subscriptionTokens nor auth.authorizeChannel/);
    }
  });

  it('authorizeChannel(conn, channel, context) decides, and its refusal message reaches the client', async () => {
    const calls: string[] = [];
    const s = await start({
      auth: {
        jwt: { secret: SECRET },
        authorizeChannel(conn, channel, context) {
          calls.push(`${context.kind}:${channel}`);
          if (channel === 'private-admins' && conn.userId !== 'admin') {
            throw new UnisocketError(ErrorCode.FORBIDDEN, 'admins only');
          }
          return channel !== 'closed-room';
        },
      },
    });
    const admin = await openAs(s, 'admin');
    const user = await openAs(s, 'u1');
    expect(await sub(admin, 'private-admins')).toMatchObject({ type: 'ack' });
    expect(await sub(user, 'private-admins')).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
      message: 'admins only',
      channel: 'private-admins',
    });
    const closed = await sub(user, 'closed-room');
    expect(closed).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(String(closed.message)).toMatch(/not allowed/);
    // user channels are decided by the Hub, never by the hook
    expect(await sub(user, 'user:admin')).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(String((await sub(await openAs(s), 'user:admin')).message)).toMatch(/authenticate first/);
    expect(calls).toEqual(['private:private-admins', 'private:private-admins', 'public:closed-room']);
  });

  it('JWT subscription tokens: bound to channel, user and expiry, with presence info', async () => {
    const s = await start({ auth: { jwt: { secret: SECRET } } });
    const c = await openAs(s, 'u1');
    const sign = (o: Partial<Parameters<typeof signChannelToken>[0]>) =>
      signChannelToken({ secret: SECRET, userId: 'u1', channel: 'private-a', ...o });
    expect(await sub(c, 'private-a', { token: await sign({}) })).toMatchObject({ type: 'ack', channel: 'private-a' });
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ channel: 'private-b', token: await sign({}) }, 'FORBIDDEN', /is for "private-a", not "private-b"/],
      [
        { channel: 'private-c', token: await sign({ channel: 'private-c', userId: 'u2' }) },
        'FORBIDDEN',
        /for user "u2"/,
      ],
      [
        { channel: 'private-d', token: await sign({ channel: 'private-d', expiresIn: -60 }) },
        'UNAUTHORIZED',
        /subscription token: token expired/,
      ],
      [
        {
          channel: 'private-e',
          token: await signChannelToken({ secret: OTHER_SECRET, userId: 'u1', channel: 'private-e' }),
        },
        'UNAUTHORIZED',
        /signature/,
      ],
      [
        { channel: 'private-f', token: await signConnectionToken({ secret: SECRET, userId: 'u1' }) },
        'FORBIDDEN',
        /not a subscription token/,
      ],
      [{ channel: 'private-g', token: 'what-is-this' }, 'FORBIDDEN', /the token is not a JWT/],
    ];
    for (const [cmd, code, message] of cases) {
      const e = await sub(c, cmd.channel as string, cmd);
      expect(e, String(message)).toMatchObject({ type: 'error', code, channel: cmd.channel });
      expect(String(e.message)).toMatch(message);
    }
    const presence = await sub(c, 'presence-room', {
      token: await sign({ channel: 'presence-room', info: { name: 'One' } }),
    });
    expect(presence).toMatchObject({ type: 'ack', members: [{ userId: 'u1', info: { name: 'One' } }] });
    // JWT subscription tokens need an identified connection
    const anon = await openAs(s);
    const e = await sub(anon, 'private-a', { token: await sign({}) });
    expect(e).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(String(e.message)).toMatch(/authenticate the connection first/);
  });

  it('JWT subscription tokens may use keys of their own', async () => {
    const s = await start({ auth: { jwt: { secret: SECRET }, subscriptionTokens: { jwt: { secret: OTHER_SECRET } } } });
    const c = await openAs(s, 'u1');
    const withSecret = (secret: string) => signChannelToken({ secret, userId: 'u1', channel: 'private-a' });
    expect(await sub(c, 'private-a', { token: await withSecret(SECRET) })).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await sub(c, 'private-a', { token: await withSecret(OTHER_SECRET) })).toMatchObject({ type: 'ack' });
  });

  it('Pusher-style HMAC: bound to the connection id; channelData names the presence member of an anonymous connection', async () => {
    const s = await start({ auth: { subscriptionTokens: { hmac: [{ key: 'old', secret: OTHER_SECRET }, HMAC] } } });
    const c = await openAs(s);
    const other = await openAs(s);
    const connectionId = c.frames[0]!.connectionId as string;
    const sign = (o: Partial<Parameters<typeof signPusherAuth>[0]>) =>
      signPusherAuth({ ...HMAC, connectionId, channel: 'private-x', ...o });
    expect(await sub(c, 'private-x', { token: sign({}).auth })).toMatchObject({ type: 'ack' });
    expect(
      await sub(c, 'private-y', {
        token: signPusherAuth({ key: 'old', secret: OTHER_SECRET, connectionId, channel: 'private-y' }).auth,
      }),
    ).toMatchObject({ type: 'ack' });
    // replayed on another connection, for another channel, or with an unknown key
    const replay = await sub(other, 'private-x', { token: sign({}).auth });
    expect(replay).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    expect(String(replay.message)).toMatch(/does not match this connection and channel/);
    expect(await sub(c, 'private-z', { token: sign({}).auth })).toMatchObject({ code: 'UNAUTHORIZED' });
    const unknown = await sub(c, 'private-z', { token: `nobody:${'0'.repeat(64)}` });
    expect(String(unknown.message)).toMatch(/unknown signing key "nobody"/);

    const member = { user_id: 42, user_info: { name: 'Anna' } };
    const presence = sign({ channel: 'presence-room', channelData: member });
    expect(presence.channel_data).toBe(JSON.stringify(member));
    const ack = await sub(c, 'presence-room', { token: presence.auth, channelData: presence.channel_data });
    expect(ack).toMatchObject({ type: 'ack', members: [{ userId: '42', info: { name: 'Anna' } }] });
    // tampered channel data
    const tampered = await sub(other, 'presence-room', {
      token: signPusherAuth({
        ...HMAC,
        connectionId: other.frames[0]!.connectionId as string,
        channel: 'presence-room',
        channelData: member,
      }).auth,
      channelData: JSON.stringify({ user_id: 'admin' }),
    });
    expect(tampered).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    // without channel data an anonymous connection has no member to add
    const noData = await sub(other, 'presence-room', {
      token: signPusherAuth({
        ...HMAC,
        connectionId: other.frames[0]!.connectionId as string,
        channel: 'presence-room',
      }).auth,
    });
    expect(noData).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    expect(String(noData.message)).toMatch(/needs a user/);
  });

  it('HMAC channel data cannot name another user than the connection’s own', async () => {
    const s = await start({ auth: { jwt: { secret: SECRET }, subscriptionTokens: { hmac: HMAC } } });
    const c = await openAs(s, 'u1');
    const connectionId = c.frames[0]!.connectionId as string;
    const as = (user_id: string) =>
      signPusherAuth({ ...HMAC, connectionId, channel: 'presence-room', channelData: { user_id } });
    const wrong = as('u2');
    const e = await sub(c, 'presence-room', { token: wrong.auth, channelData: wrong.channel_data });
    expect(e).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(String(e.message)).toMatch(/names user "u2", but this connection is "u1"/);
    const right = as('u1');
    expect(await sub(c, 'presence-room', { token: right.auth, channelData: right.channel_data })).toMatchObject({
      type: 'ack',
    });
  });
});

describe('client publish permissions', () => {
  it('nothing by default; patterns allow; private and presence need an authorized subscription', async () => {
    const closed = await start();
    const c0 = await openAs(closed);
    const none = await c0.request({ type: 'publish', channel: 'chat.x', event: 'say' });
    expect(none).toMatchObject({ type: 'error', code: 'FORBIDDEN', channel: 'chat.x' });
    expect(String(none.message)).toMatch(/permissions.publish/);

    const s = await start({
      auth: { jwt: { secret: SECRET }, authorizeChannel: () => true },
      permissions: { publish: ['chat.*', 'private'] },
    });
    const c = await openAs(s, 'u1');
    expect(await c.request({ type: 'publish', channel: 'chat.x', event: 'say', data: 1 })).toMatchObject({
      type: 'ack',
      offset: 1,
    });
    const news = await c.request({ type: 'publish', channel: 'news', event: 'say' });
    expect(news).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(String(news.message)).toMatch(/no permissions.publish pattern matches/);
    const outsider = await c.request({ type: 'publish', channel: 'private-team', event: 'say' });
    expect(outsider).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(String(outsider.message)).toMatch(/subscribe to "private-team" before publishing/);
    await sub(c, 'private-team');
    expect(await c.request({ type: 'publish', channel: 'private-team', event: 'say' })).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'publish', channel: 'user:u2', event: 'dm' })).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('whispers: client-* events from subscribers of private and presence channels reach the other subscribers', async () => {
    const s = await start({
      auth: { jwt: { secret: SECRET }, authorizeChannel: () => true },
      permissions: { whisper: true },
    });
    const a = await openAs(s, 'a');
    const b = await openAs(s, 'b');
    const outsider = await openAs(s, 'c');
    await sub(a, 'presence-room');
    await sub(b, 'presence-room');
    expect(
      await a.request({ type: 'publish', channel: 'presence-room', event: 'client-typing', data: { on: true } }),
    ).toMatchObject({ type: 'ack' });
    expect(await b.next((f) => f.type === 'message')).toMatchObject({
      channel: 'presence-room',
      event: 'client-typing',
      data: { on: true },
    });
    const notWhisper = await a.request({ type: 'publish', channel: 'presence-room', event: 'typing' });
    expect(String(notWhisper.message)).toMatch(/whispers are events named "client-…"/);
    expect(await outsider.request({ type: 'publish', channel: 'presence-room', event: 'client-typing' })).toMatchObject(
      { code: 'FORBIDDEN' },
    );
    await sub(a, 'lobby');
    expect(await a.request({ type: 'publish', channel: 'lobby', event: 'client-typing' })).toMatchObject({
      code: 'FORBIDDEN',
    });
  });
});
