import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Hub, UnisocketError, type Connection, type HubOptions, type Identity, decodeFrame } from '../src/index';
import { FakeSocket, tick } from './fake-socket';

const hubs: Hub[] = [];
async function makeHub(options: HubOptions = {}): Promise<Hub> {
  const hub = new Hub({ presence: { leaveGraceMs: 0 }, ...options });
  await hub.start();
  hubs.push(hub);
  return hub;
}
function connect(hub: Hub, identity?: Identity): { conn: Connection; socket: FakeSocket } {
  const socket = new FakeSocket();
  const conn = hub.addConnection({
    socket,
    transport: 'native',
    ip: '127.0.0.1',
    ...(identity === undefined ? {} : { identity }),
  });
  return { conn, socket };
}
const send = (hub: Hub, conn: Connection, cmd: object): void => hub.handleText(conn, JSON.stringify(cmd));

afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
  vi.useRealTimers();
});

describe('Hub: identity expiry during a connection', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });

  const session = { refreshLeadMs: 1_000, refreshGraceMs: 500 };
  const policy = {
    authenticate: (_conn: Connection, token: string): Identity => {
      const [userId, ttl] = token.split('/');
      return { userId: userId!, expiresAt: Date.now() + Number(ttl) };
    },
  };

  it('sends refresh before expiry (never before welcome), and closes 4001 after the grace without a refresh', async () => {
    const hub = await makeHub({ session, policy });
    const a = connect(hub, { userId: 'u1', expiresAt: Date.now() + 10_000 });
    expect(a.socket.frames[0]).toMatchObject({ type: 'welcome', userId: 'u1' });
    vi.advanceTimersByTime(8_999);
    expect(a.socket.of('refresh')).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(a.socket.of('refresh')).toEqual([{ type: 'refresh', expiresAt: expect.any(Number), graceMs: 500 }]);
    vi.advanceTimersByTime(1_000);
    // expired, still in the grace: only auth, unsubscribe and ping are served
    send(hub, a.conn, { type: 'subscribe', channel: 'news', ref: 1 });
    expect(a.socket.last()).toMatchObject({ type: 'error', code: 'UNAUTHORIZED', ref: 1 });
    expect(String(a.socket.last()!.message)).toMatch(/expired.*auth/);
    send(hub, a.conn, { type: 'ping', ref: 2 });
    expect(a.socket.last()).toEqual({ type: 'pong', ref: 2 });
    expect(a.socket.closedWith).toBeUndefined();
    vi.advanceTimersByTime(499);
    expect(a.socket.closedWith).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(a.socket.closedWith?.code).toBe(4001);
    expect(a.socket.last()).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    expect(hub.stats).toMatchObject({ refreshesRequested: 1, authExpired: 1 });
  });

  it('a refresh with the same user re-arms the timer; another user is refused', async () => {
    const hub = await makeHub({ session, policy });
    const a = connect(hub);
    send(hub, a.conn, { type: 'auth', token: 'u1/3000', ref: 1 });
    expect(a.socket.last()).toMatchObject({ type: 'ack', ref: 1, userId: 'u1', expiresAt: expect.any(Number) });
    vi.advanceTimersByTime(2_000);
    expect(a.socket.of('refresh')).toHaveLength(1);
    send(hub, a.conn, { type: 'auth', token: 'u2/3000', ref: 2 });
    expect(a.socket.last()).toMatchObject({ type: 'error', code: 'FORBIDDEN', ref: 2 });
    send(hub, a.conn, { type: 'auth', token: 'u1/60000', ref: 3 });
    expect(a.socket.last()).toMatchObject({ type: 'ack', ref: 3, userId: 'u1' });
    vi.advanceTimersByTime(10_000);
    expect(a.socket.closedWith).toBeUndefined();
    expect(a.socket.of('refresh')).toHaveLength(1);
    send(hub, a.conn, { type: 'subscribe', channel: 'news', ref: 4 });
    expect(a.socket.last()).toMatchObject({ type: 'ack', ref: 4 });
    vi.advanceTimersByTime(50_000);
    expect(a.socket.of('refresh')).toHaveLength(2);
  });

  it('short-lived identities get their refresh halfway; long-lived ones beyond the timer range still work', async () => {
    const hub = await makeHub({ session: { refreshLeadMs: 30_000, refreshGraceMs: 1_000 } });
    const short = connect(hub, { userId: 'u1', expiresAt: Date.now() + 4_000 });
    const long = connect(hub, { userId: 'u2', expiresAt: Date.now() + 40 * 24 * 3600_000 });
    vi.advanceTimersByTime(1_999);
    expect(short.socket.of('refresh')).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(short.socket.of('refresh')).toHaveLength(1);
    vi.advanceTimersByTime(30 * 24 * 3600_000);
    expect(long.socket.of('refresh')).toHaveLength(0);
    expect(long.socket.closedWith).toBeUndefined();
  });

  it('clears the timer when the connection closes', async () => {
    const hub = await makeHub({ session, policy });
    const a = connect(hub, { userId: 'u1', expiresAt: Date.now() + 10_000 });
    hub.removeConnection(a.conn);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('Hub: presence', () => {
  const grant = { authorizeSubscribe: () => true };

  it('a connection that leaves and comes back within the grace is neither a leave nor a join', async () => {
    const hub = await makeHub({ policy: grant, presence: { leaveGraceMs: 40 } });
    const watcher = connect(hub, { userId: 'w' });
    send(hub, watcher.conn, { type: 'subscribe', channel: 'presence-room' });
    const a = connect(hub, { userId: 'u1' });
    send(hub, a.conn, { type: 'subscribe', channel: 'presence-room' });
    send(hub, a.conn, { type: 'unsubscribe', channel: 'presence-room' });
    send(hub, a.conn, { type: 'subscribe', channel: 'presence-room', ref: 2 });
    await new Promise((r) => setTimeout(r, 80));
    const events = watcher.socket.of('presence').map((f) => `${f.action}:${(f.member as { userId: string }).userId}`);
    expect(events).toEqual(['join:w', 'join:u1']);
    expect(hub.presenceMembers('presence-room')).toEqual([{ userId: 'w' }, { userId: 'u1' }]);
  });

  it('close() applies leaves still waiting out their grace', async () => {
    const hub = await makeHub({ policy: grant, presence: { leaveGraceMs: 60_000 } });
    const a = connect(hub, { userId: 'u1' });
    send(hub, a.conn, { type: 'subscribe', channel: 'presence-room' });
    hub.removeConnection(a.conn);
    expect(hub.presenceMembers('presence-room')).toHaveLength(1);
    const left: string[] = [];
    hub.on('presence', (_ch, action, member) => left.push(`${action}:${member.userId}`));
    hub.close();
    expect(left).toEqual(['leave:u1']);
    expect(hub.presenceMembers('presence-room')).toHaveLength(0);
  });

  it('caps presence channels per connection', async () => {
    const hub = await makeHub({ policy: grant, presence: { maxChannelsPerConnection: 2 } });
    const a = connect(hub, { userId: 'u1' });
    for (const ch of ['presence-1', 'presence-2', 'presence-3'])
      send(hub, a.conn, { type: 'subscribe', channel: ch, ref: ch });
    expect(a.socket.last()).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED', ref: 'presence-3' });
    expect(String(a.socket.last()!.message)).toMatch(/2 presence channels/);
    send(hub, a.conn, { type: 'subscribe', channel: 'private-ok', ref: 'p' });
    expect(a.socket.last()).toMatchObject({ type: 'ack', ref: 'p' });
  });

  it('a grant may name the member of an anonymous connection, never another user for an identified one', async () => {
    const hub = await makeHub({ policy: { authorizeSubscribe: () => ({ userId: 'signed', info: { n: 1 } }) } });
    const anon = connect(hub);
    send(hub, anon.conn, { type: 'subscribe', channel: 'presence-room', ref: 1 });
    expect(anon.socket.last()).toMatchObject({ type: 'ack', ref: 1, members: [{ userId: 'signed', info: { n: 1 } }] });
    const other = connect(hub, { userId: 'u2' });
    send(hub, other.conn, { type: 'subscribe', channel: 'presence-room', ref: 2 });
    expect(other.socket.last()).toMatchObject({ type: 'error', code: 'FORBIDDEN', ref: 2 });
    expect(String(other.socket.last()!.message)).toMatch(/names user "signed"/);
  });

  it('refuses presence for an anonymous connection without a member, saying why', async () => {
    const hub = await makeHub({ policy: grant });
    const anon = connect(hub);
    send(hub, anon.conn, { type: 'subscribe', channel: 'presence-room', ref: 1 });
    expect(anon.socket.last()).toMatchObject({ type: 'error', code: 'UNAUTHORIZED', ref: 1, channel: 'presence-room' });
  });
});

describe('Hub: commands run in order around an async auth', () => {
  it('commands pipelined after auth wait for it (and a second auth holds the rest again)', async () => {
    const hub = await makeHub({
      policy: {
        authenticate: async (_conn, token) => {
          await new Promise((r) => setTimeout(r, 5));
          if (token === 'bad') throw new UnisocketError('UNAUTHORIZED', 'bad token');
          return { userId: token };
        },
        authorizeSubscribe: () => true,
      },
    });
    const a = connect(hub);
    const lines = [
      { type: 'auth', token: 'u1', ref: 1 },
      { type: 'subscribe', channel: 'user:u1', ref: 2 },
      { type: 'subscribe', channel: 'presence-room', ref: 3 },
      { type: 'auth', token: 'bad', ref: 4 },
      { type: 'ping', ref: 5 },
    ];
    hub.handleText(a.conn, lines.map((l) => JSON.stringify(l)).join('\n'));
    expect(a.socket.frames).toHaveLength(1); // welcome only: everything waits for the first auth
    await new Promise((r) => setTimeout(r, 30));
    const replies = a.socket.frames.filter((f) => f.type === 'ack' || f.type === 'error' || f.type === 'pong');
    expect(replies.map((f) => `${f.type}:${String(f.ref)}`)).toEqual(['ack:1', 'ack:2', 'ack:3', 'error:4', 'pong:5']);
    expect(a.socket.frames.find((f) => f.ref === 3)).toMatchObject({ members: [{ userId: 'u1' }] });
  });
});

describe('Hub: every command gets a reply', () => {
  it('a subscribe overtaken by an unsubscribe while authorizing is answered with an error', async () => {
    const hub = await makeHub({ policy: { authorizeSubscribe: async () => true } });
    const a = connect(hub);
    hub.handleText(
      a.conn,
      '{"type":"subscribe","channel":"private-a","ref":1}\n{"type":"unsubscribe","channel":"private-a","ref":2}',
    );
    await tick();
    const replies = a.socket.frames.slice(1);
    expect(replies).toEqual([
      {
        type: 'error',
        ref: 1,
        channel: 'private-a',
        code: 'BAD_REQUEST',
        message: expect.stringMatching(/cancelled by an unsubscribe/),
      },
      { type: 'ack', ref: 2, channel: 'private-a' },
    ]);
    expect(a.conn.channels).toEqual([]);
  });

  it('a recovering subscribe overtaken by an unsubscribe while reading history is answered too', async () => {
    const hub = await makeHub();
    const history = hub.broker.history;
    const read = history.read.bind(history);
    history.read = (channel, since) =>
      new Promise((resolve) => setImmediate(() => resolve(read(channel, since) as never)));
    const a = connect(hub);
    hub.publish('c', 'e', 1);
    const sub = (ref: number) => ({ type: 'subscribe', channel: 'c', ref, since: { epoch: 'old', offset: 0 } });
    hub.handleText(a.conn, `${JSON.stringify(sub(1))}\n{"type":"unsubscribe","channel":"c","ref":2}`);
    await tick();
    await tick();
    const replies = a.socket.frames.filter((f) => f.type === 'ack' || f.type === 'error' || f.type === 'pong');
    expect(replies.map((f) => `${f.type}:${String(f.ref)}`)).toEqual(['error:1', 'ack:2']);
  });
});

describe('Hub: hostile frames', () => {
  it('rate limits rejected frames (binary) like commands, and closes 4029 on a flood', async () => {
    const hub = await makeHub({ limits: { messagesPerSecond: 5 } });
    const a = connect(hub);
    const binary = (): UnisocketError => new UnisocketError('BAD_REQUEST', 'binary frames are not supported');
    for (let i = 0; i < 10; i++) hub.rejectFrame(a.conn, binary());
    expect(a.socket.of('error').map((e) => e.code)).toEqual(Array(10).fill('BAD_REQUEST'));
    for (let i = 0; i < 10; i++) hub.rejectFrame(a.conn, binary());
    expect(a.socket.of('error').filter((e) => e.code === 'RATE_LIMITED').length).toBeGreaterThan(0);
    expect(a.socket.closedWith?.code).toBe(4029);
  });

  it('answers a frame of blank lines, and decodes channelData', () => {
    const [blank] = decodeFrame('\n \n\n');
    expect(blank).toBeInstanceOf(UnisocketError);
    expect((blank as UnisocketError).message).toMatch(/no command/);
    expect(decodeFrame('{"type":"subscribe","channel":"presence-x","token":"k:ab","channelData":"{}"}')[0]).toEqual({
      type: 'subscribe',
      channel: 'presence-x',
      token: 'k:ab',
      channelData: '{}',
    });
    expect(decodeFrame('{"type":"subscribe","channel":"presence-x","channelData":{}}')[0]).toBeInstanceOf(
      UnisocketError,
    );
  });

  it('closes a client that sends but never reads (replies count against maxBufferedBytes)', async () => {
    const hub = await makeHub({ limits: { maxBufferedBytes: 1024 } });
    const a = connect(hub);
    a.socket.bufferedBytes = 4096;
    send(hub, a.conn, { type: 'ping', ref: 1 });
    expect(a.socket.closedWith?.code).toBe(4008);
  });
});
