import { afterEach, describe, expect, it } from 'vitest';
import { signConnectionToken } from '../src/index';
import { RawClient, type TestServer, sleep, startServer, waitFor } from './helpers';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long';
const servers: TestServer[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const GRACE = 400;
const presenceServer = (extra: Parameters<typeof startServer>[0] = {}) =>
  start({
    auth: { jwt: { secret: SECRET }, authorizeChannel: () => true },
    presence: { leaveGraceMs: GRACE },
    ...extra,
  });
const tab = async (s: TestServer, userId: string, info?: unknown): Promise<RawClient> => {
  const token = await signConnectionToken({ secret: SECRET, userId, ...(info === undefined ? {} : { info }) });
  return RawClient.open(s.url, { headers: { authorization: `Bearer ${token}` } });
};
const events = (c: RawClient): string[] =>
  c.frames
    .filter((f) => f.type === 'presence')
    .map((f) => `${f.action as string}:${(f.member as { userId: string }).userId}`);

describe('presence over real sockets', () => {
  it('two tabs of one user are one member; a reload within leaveGraceMs is neither leave nor join', async () => {
    const s = await presenceServer();
    const watcher = await tab(s, 'w');
    await watcher.request({ type: 'subscribe', channel: 'presence-room' });

    const tab1 = await tab(s, 'anna', { name: 'Anna' });
    expect(await tab1.request({ type: 'subscribe', channel: 'presence-room' })).toMatchObject({
      members: [{ userId: 'w' }, { userId: 'anna', info: { name: 'Anna' } }],
    });
    await watcher.next(
      (f) => f.type === 'presence' && f.action === 'join' && (f.member as { userId: string }).userId === 'anna',
    );
    expect(
      watcher.frames.find(
        (f) => f.type === 'presence' && f.action === 'join' && (f.member as { userId: string }).userId === 'anna',
      ),
    ).toMatchObject({ channel: 'presence-room', member: { userId: 'anna', info: { name: 'Anna' } } });

    const tab2 = await tab(s, 'anna', { name: 'Anna' });
    const ack2 = await tab2.request({ type: 'subscribe', channel: 'presence-room' });
    expect(ack2.members).toHaveLength(2);

    // one tab closes: the other keeps the member
    tab1.close();
    await tab1.waitClose();
    await sleep(GRACE + 150);
    expect(events(watcher)).toEqual(['join:w', 'join:anna']);

    // the last tab reloads: closes, and its replacement subscribes within the grace
    tab2.close();
    await tab2.waitClose();
    await sleep(GRACE / 4);
    const reloaded = await tab(s, 'anna', { name: 'Anna' });
    await reloaded.request({ type: 'subscribe', channel: 'presence-room' });
    await sleep(GRACE + 150);
    expect(events(watcher)).toEqual(['join:w', 'join:anna']);
    const list = await watcher.request({ type: 'presence', channel: 'presence-room' });
    expect(list).toMatchObject({
      type: 'ack',
      channel: 'presence-room',
      members: [{ userId: 'w' }, { userId: 'anna', info: { name: 'Anna' } }],
    });

    // the last tab really leaves: one leave, after the grace
    const closedAt = Date.now();
    reloaded.close();
    await watcher.next((f) => f.type === 'presence' && f.action === 'leave', GRACE + 2_000);
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(GRACE - 20);
    expect(events(watcher)).toEqual(['join:w', 'join:anna', 'leave:anna']);
    expect((await watcher.request({ type: 'presence', channel: 'presence-room' })).members).toEqual([{ userId: 'w' }]);
  });

  it('caps members per channel (present users may add tabs) and presence channels per connection', async () => {
    const s = await presenceServer({ presence: { leaveGraceMs: 0, maxMembers: 2, maxChannelsPerConnection: 2 } });
    const a = await tab(s, 'a');
    const b = await tab(s, 'b');
    const c = await tab(s, 'c');
    await a.request({ type: 'subscribe', channel: 'presence-room' });
    await b.request({ type: 'subscribe', channel: 'presence-room' });
    const full = await c.request({ type: 'subscribe', channel: 'presence-room' });
    expect(full).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED', channel: 'presence-room' });
    expect(String(full.message)).toMatch(/full \(2 members\)/);
    const a2 = await tab(s, 'a');
    expect(await a2.request({ type: 'subscribe', channel: 'presence-room' })).toMatchObject({ type: 'ack' });
    await a.request({ type: 'subscribe', channel: 'presence-two' });
    const tooMany = await a.request({ type: 'subscribe', channel: 'presence-three' });
    expect(tooMany).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED' });
    expect(String(tooMany.message)).toMatch(/2 presence channels per connection/);
    // the refused subscriber was not left half-joined
    expect((await a.request({ type: 'presence', channel: 'presence-room' })).members).toHaveLength(2);
  });

  it('the presence command needs a presence channel and a subscription to it', async () => {
    const s = await presenceServer();
    const a = await tab(s, 'a');
    const notPresence = await a.request({ type: 'presence', channel: 'news' });
    expect(notPresence).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    const notSubscribed = await a.request({ type: 'presence', channel: 'presence-room' });
    expect(notSubscribed).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(String(notSubscribed.message)).toMatch(/subscribe to "presence-room" before/);
  });

  it('a presence member leaves when its connection is killed (no close handshake)', async () => {
    const s = await presenceServer({ presence: { leaveGraceMs: 50 } });
    const watcher = await tab(s, 'w');
    await watcher.request({ type: 'subscribe', channel: 'presence-room' });
    const a = await tab(s, 'a');
    await a.request({ type: 'subscribe', channel: 'presence-room' });
    a.ws.terminate();
    await waitFor(() => events(watcher).includes('leave:a'), 3_000, 'leave:a');
    expect(events(watcher)).toEqual(['join:w', 'join:a', 'leave:a']);
  });
});
