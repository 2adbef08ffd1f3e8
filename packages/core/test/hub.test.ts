import { afterEach, describe, expect, it } from 'vitest';
import { Hub, MemoryBroker, MemoryBus, UnisocketError, type Connection, type HubOptions } from '../src/index';
import { FakeSocket, tick } from './fake-socket';

const hubs: Hub[] = [];
async function makeHub(options: HubOptions = {}): Promise<Hub> {
  const hub = new Hub({ presence: { leaveGraceMs: 0 }, ...options });
  await hub.start();
  hubs.push(hub);
  return hub;
}
function connect(hub: Hub, userId?: string): { conn: Connection; socket: FakeSocket } {
  const socket = new FakeSocket();
  const conn = hub.addConnection({
    socket,
    transport: 'native',
    ip: '127.0.0.1',
    ...(userId === undefined ? {} : { identity: { userId } }),
  });
  return { conn, socket };
}
const send = (hub: Hub, conn: Connection, cmd: object): void => hub.handleText(conn, JSON.stringify(cmd));

afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
});

describe('Hub', () => {
  it('welcomes, subscribes, and delivers a publish to every subscriber once', async () => {
    const hub = await makeHub();
    const a = connect(hub);
    const b = connect(hub);
    expect(a.socket.frames[0]).toMatchObject({ type: 'welcome', protocol: 1, heartbeatMs: 25000, userId: null });
    send(hub, a.conn, { type: 'subscribe', channel: 'news', ref: 1 });
    send(hub, b.conn, { type: 'subscribe', channel: 'news', ref: 1 });
    expect(a.socket.last()).toMatchObject({ type: 'ack', ref: 1, channel: 'news', offset: 0 });
    const ack = await hub.publish('news', 'update', { n: 1 });
    expect(ack).toMatchObject({ channel: 'news', offset: 1 });
    await tick();
    for (const s of [a.socket, b.socket]) {
      expect(s.messages()).toEqual([
        {
          type: 'message',
          channel: 'news',
          event: 'update',
          data: { n: 1 },
          id: ack.id,
          offset: 1,
          ts: expect.any(Number),
        },
      ]);
    }
  });

  it('refuses a publisher-given message id that is not a safe token (it is written into frames unescaped)', async () => {
    const hub = await makeHub();
    expect(() => hub.publish('c', 'e', 1, { id: 'a"b' })).toThrow(/idempotency key/);
    expect(() => hub.publish('c', 'e', 1, { id: 'x'.repeat(65) })).toThrow(/idempotency key/);
    expect(hub.publish('c', 'e', 1, { id: 'order-42' })).toMatchObject({ id: 'order-42' });
  });

  it('coalesces what a channel publishes within one tick into one frame', async () => {
    const hub = await makeHub();
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'c' });
    const writesBefore = a.socket.rawWrites.length;
    for (let i = 0; i < 10; i++) hub.publish('c', 'e', i);
    await tick();
    expect(a.socket.rawWrites.length - writesBefore).toBe(1);
    expect(a.socket.messages().map((m) => m.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('splits batches at batch.maxMessages', async () => {
    const hub = await makeHub({ batch: { maxMessages: 4 } });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'c' });
    const before = a.socket.rawWrites.length;
    for (let i = 0; i < 10; i++) hub.publish('c', 'e', i);
    await tick();
    expect(a.socket.rawWrites.length - before).toBe(3);
    expect(a.socket.messages()).toHaveLength(10);
  });

  it('recovers exactly the missed messages, then continues live without a gap or duplicate', async () => {
    const hub = await makeHub();
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'news' });
    for (let i = 1; i <= 5; i++) hub.publish('news', 'e', i);
    await tick();
    const epoch = a.socket.of('ack')[0]!.epoch as string;
    expect(a.socket.messages().map((m) => m.offset)).toEqual([1, 2, 3, 4, 5]);
    // b missed everything after offset 2
    const b = connect(hub);
    // messages published in the same tick as the subscribe must not be lost or duplicated
    send(hub, b.conn, { type: 'subscribe', channel: 'news', ref: 7, since: { epoch, offset: 2 } });
    hub.publish('news', 'e', 6);
    await tick();
    hub.publish('news', 'e', 7);
    await tick();
    expect(b.socket.of('ack')[0]).toMatchObject({ ref: 7, recovered: true, epoch, offset: 5 });
    expect(b.socket.messages().map((m) => m.offset)).toEqual([3, 4, 5, 6, 7]);
  });

  it('says recovered:false when history no longer covers the position', async () => {
    const hub = await makeHub({ broker: new MemoryBroker({ history: { size: 3 } }) });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'news' });
    const epoch = a.socket.of('ack')[0]!.epoch as string;
    for (let i = 1; i <= 10; i++) hub.publish('news', 'e', i);
    await tick();
    const b = connect(hub);
    send(hub, b.conn, { type: 'subscribe', channel: 'news', ref: 1, since: { epoch, offset: 2 } });
    expect(b.socket.of('ack')[0]).toMatchObject({ recovered: false, offset: 10 });
    const c = connect(hub);
    send(hub, c.conn, { type: 'subscribe', channel: 'news', ref: 1, since: { epoch: 'other', offset: 2 } });
    expect(c.socket.of('ack')[0]).toMatchObject({ recovered: false, offset: 10, epoch });
    hub.publish('news', 'e', 11);
    await tick();
    expect(b.socket.messages().map((m) => m.offset)).toEqual([11]);
  });

  it('unsubscribe stops delivery and is idempotent', async () => {
    const hub = await makeHub();
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'x' });
    send(hub, a.conn, { type: 'unsubscribe', channel: 'x', ref: 2 });
    send(hub, a.conn, { type: 'unsubscribe', channel: 'x', ref: 3 });
    expect(a.socket.of('ack').slice(1)).toEqual([
      { type: 'ack', ref: 2, channel: 'x' },
      { type: 'ack', ref: 3, channel: 'x' },
    ]);
    hub.publish('x', 'e', 1);
    await tick();
    expect(a.socket.messages()).toEqual([]);
    expect(hub.channelCount).toBe(0);
  });

  it('reaches every connection on "*" without a subscription', async () => {
    const hub = await makeHub();
    const a = connect(hub);
    const b = connect(hub);
    await hub.publish('*', 'announce', 'hi');
    await tick();
    expect(a.socket.messages('*')).toHaveLength(1);
    expect(b.socket.messages('*')).toHaveLength(1);
  });

  it('subscribes authenticated connections to their user channel, and only them', async () => {
    const hub = await makeHub();
    const u1a = connect(hub, 'u1');
    const u1b = connect(hub, 'u1');
    const u2 = connect(hub, 'u2');
    const anon = connect(hub);
    await hub.publish('user:u1', 'notification', { title: 'hi' });
    await tick();
    expect(u1a.socket.messages('user:u1')).toHaveLength(1);
    expect(u1b.socket.messages('user:u1')).toHaveLength(1);
    expect(u2.socket.messages()).toHaveLength(0);
    send(hub, u2.conn, { type: 'subscribe', channel: 'user:u1', ref: 1 });
    expect(u2.socket.last()).toMatchObject({ type: 'error', code: 'FORBIDDEN', ref: 1 });
    send(hub, anon.conn, { type: 'subscribe', channel: 'user:u1', ref: 1 });
    expect(anon.socket.last()).toMatchObject({ type: 'error', code: 'UNAUTHORIZED', ref: 1 });
    expect(hub.userConnections('u1')).toHaveLength(2);
  });

  it('refuses private and presence channels without an authorization hook, and client publish by default', async () => {
    const hub = await makeHub();
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'private-x', ref: 1 });
    expect(a.socket.last()).toMatchObject({ type: 'error', code: 'FORBIDDEN', ref: 1, channel: 'private-x' });
    send(hub, a.conn, { type: 'publish', channel: 'chat', event: 'say', data: 1, ref: 2 });
    expect(a.socket.last()).toMatchObject({ type: 'error', code: 'FORBIDDEN', ref: 2 });
    expect(String(a.socket.last()!.message)).toMatch(/publish/);
  });

  it('acks client publishes and deduplicates by idempotency id', async () => {
    const hub = await makeHub({ policy: { authorizePublish: () => true } });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'chat' });
    send(hub, a.conn, { type: 'publish', channel: 'chat', event: 'say', data: { t: 'x' }, ref: 4, id: 'client-1' });
    send(hub, a.conn, { type: 'publish', channel: 'chat', event: 'say', data: { t: 'x' }, ref: 5, id: 'client-1' });
    await tick();
    const acks = a.socket.of('ack').slice(1);
    expect(acks[0]).toMatchObject({ ref: 4, channel: 'chat', id: 'client-1', offset: 1 });
    expect(acks[1]).toMatchObject({ ref: 5, id: 'client-1', offset: 1, duplicate: true });
    expect(a.socket.messages()).toHaveLength(1);
  });

  it('emits clientPublish once per accepted client publish: not for refusals, repeats or server publishes', async () => {
    const hub = await makeHub({ policy: { authorizePublish: (_c, channel) => channel !== 'closed' } });
    const seen: unknown[] = [];
    hub.on('clientPublish', (p) =>
      seen.push({ conn: p.conn.id, channel: p.channel, event: p.event, data: p.data, id: p.id, offset: p.offset }),
    );
    const a = connect(hub);
    send(hub, a.conn, { type: 'publish', channel: 'chat', event: 'say', data: { t: 'x' }, ref: 1, id: 'k-1' });
    send(hub, a.conn, { type: 'publish', channel: 'chat', event: 'say', data: { t: 'x' }, ref: 2, id: 'k-1' });
    send(hub, a.conn, { type: 'publish', channel: 'closed', event: 'say', data: 1, ref: 3 });
    hub.publish('chat', 'server', 2);
    await tick();
    expect(seen).toEqual([{ conn: a.conn.id, channel: 'chat', event: 'say', data: { t: 'x' }, id: 'k-1', offset: 1 }]);
  });

  it('answers every bad command with an error and keeps the connection open', async () => {
    const hub = await makeHub();
    const a = connect(hub);
    const bad = [
      'not json',
      '[]',
      '{"type":"nope","ref":1}',
      '{"ref":2}',
      '{"type":"subscribe","ref":3}',
      '{"type":"subscribe","channel":"bad channel!","ref":4}',
      '{"type":"subscribe","channel":"*","ref":5}',
      '{"type":"subscribe","channel":"ok","since":{"epoch":1},"ref":6}',
      '{"type":"publish","channel":"ok","ref":7}',
      '{"type":"auth","ref":8}',
      `{"type":"ping","ref":"${'x'.repeat(100)}"}`,
      '{"type":"subscribe","channel":42,"ref":9}',
    ];
    for (const text of bad) hub.handleText(a.conn, text);
    const errors = a.socket.of('error');
    expect(errors).toHaveLength(bad.length);
    for (const e of errors) expect(e.code).toBe('BAD_REQUEST');
    expect(errors.map((e) => e.ref)).toEqual([undefined, undefined, 1, 2, 3, 4, 5, 6, 7, 8, undefined, 9]);
    expect(a.socket.closedWith).toBeUndefined();
    send(hub, a.conn, { type: 'ping', ref: 'p' });
    expect(a.socket.last()).toEqual({ type: 'pong', ref: 'p' });
  });

  it('closes with 1009 for an oversized frame', async () => {
    const hub = await makeHub({ limits: { maxPayloadBytes: 100 } });
    const a = connect(hub);
    hub.handleText(a.conn, JSON.stringify({ type: 'publish', channel: 'c', event: 'e', data: 'x'.repeat(200) }));
    expect(a.socket.last()).toMatchObject({ type: 'error', code: 'PAYLOAD_TOO_LARGE' });
    expect(a.socket.closedWith?.code).toBe(1009);
  });

  it('rate limits commands, then closes with 4029 when the client keeps going', async () => {
    const hub = await makeHub({ limits: { messagesPerSecond: 5 } });
    const a = connect(hub);
    for (let i = 0; i < 10; i++) send(hub, a.conn, { type: 'ping', ref: i });
    expect(a.socket.of('pong')).toHaveLength(10);
    send(hub, a.conn, { type: 'ping', ref: 'x' });
    expect(a.socket.last()).toMatchObject({ type: 'error', code: 'RATE_LIMITED', ref: 'x' });
    for (let i = 0; i < 10; i++) send(hub, a.conn, { type: 'ping' });
    expect(a.socket.closedWith?.code).toBe(4029);
  });

  it('handleInvalid: a command a transport could not validate counts against the rate limit, its error goes to reply', async () => {
    const hub = await makeHub({ limits: { messagesPerSecond: 1 } });
    const a = connect(hub);
    const replies: Record<string, unknown>[] = [];
    const reply = (frame: object): void => void replies.push(frame as Record<string, unknown>);
    const bad = new UnisocketError('BAD_REQUEST', 'not an object');
    hub.handleInvalid(a.conn, bad, reply);
    hub.handleInvalid(a.conn, bad, reply);
    hub.handleInvalid(a.conn, bad, reply);
    expect(replies.map((r) => r.code)).toEqual(['BAD_REQUEST', 'BAD_REQUEST', 'RATE_LIMITED']);
    expect(a.conn.commandsIn).toBe(3);
    expect(a.socket.of('error')).toHaveLength(0);
    expect(a.socket.closedWith).toBeUndefined();
    // without reply the error is a frame on the connection; a client that keeps going is closed like any other
    hub.handleInvalid(a.conn, bad);
    expect(a.socket.last()).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
    expect(a.socket.closedWith?.code).toBe(4029);
  });

  it('closes a slow consumer with 4008 instead of buffering for it', async () => {
    const hub = await makeHub({ limits: { maxBufferedBytes: 1024 } });
    const slow = connect(hub);
    const fast = connect(hub);
    send(hub, slow.conn, { type: 'subscribe', channel: 'c' });
    send(hub, fast.conn, { type: 'subscribe', channel: 'c' });
    slow.socket.bufferedBytes = 5000;
    hub.publish('c', 'e', 1);
    await tick();
    expect(slow.socket.closedWith?.code).toBe(4008);
    expect(fast.socket.messages()).toHaveLength(1);
    expect(hub.stats.slowConsumers).toBe(1);
  });

  it('tracks presence per user across connections, with join and leave once', async () => {
    const hub = await makeHub({ policy: { authorizeSubscribe: () => ({ info: { name: 'x' } }) } });
    const watcher = connect(hub, 'w');
    send(hub, watcher.conn, { type: 'subscribe', channel: 'presence-room' });
    const tab1 = connect(hub, 'u1');
    const tab2 = connect(hub, 'u1');
    send(hub, tab1.conn, { type: 'subscribe', channel: 'presence-room', ref: 1 });
    send(hub, tab2.conn, { type: 'subscribe', channel: 'presence-room', ref: 1 });
    expect(tab2.socket.of('ack').find((f) => f.ref === 1)!.members).toEqual([
      { userId: 'w', info: { name: 'x' } },
      { userId: 'u1', info: { name: 'x' } },
    ]);
    await tick();
    const events = () =>
      watcher.socket.of('presence').map((f) => `${f.action}:${(f.member as { userId: string }).userId}`);
    expect(events()).toEqual(['join:w', 'join:u1']);
    hub.removeConnection(tab1.conn);
    await tick();
    expect(events()).toEqual(['join:w', 'join:u1']);
    hub.removeConnection(tab2.conn);
    await tick();
    expect(events()).toEqual(['join:w', 'join:u1', 'leave:u1']);
    send(watcher.conn ? hub : hub, watcher.conn, { type: 'presence', channel: 'presence-room', ref: 9 });
    expect(watcher.socket.last()).toMatchObject({ type: 'ack', ref: 9, members: [{ userId: 'w' }] });
  });

  it('announces presence changes the broker found by itself (a dead node swept) on every Hub', async () => {
    const bus = new MemoryBus();
    const policy = { authorizeSubscribe: () => true };
    const h1 = await makeHub({ broker: new MemoryBroker({ bus }), policy });
    const h2 = await makeHub({ broker: new MemoryBroker({ bus }), policy });
    const w1 = connect(h1, 'w1');
    const w2 = connect(h2, 'w2');
    send(h1, w1.conn, { type: 'subscribe', channel: 'presence-room' });
    send(h2, w2.conn, { type: 'subscribe', channel: 'presence-room' });
    await tick();
    const seen: string[] = [];
    h2.on('presence', (_channel, action, member) => seen.push(`${action}:${member.userId}`));
    h2.broker.emit('presence', 'presence-room', 'leave', { userId: 'gone' });
    await tick();
    for (const w of [w1, w2]) {
      expect(w.socket.of('presence').filter((f) => f.action === 'leave')).toEqual([
        { type: 'presence', channel: 'presence-room', action: 'leave', member: { userId: 'gone' } },
      ]);
    }
    expect(seen).toEqual(['leave:gone']);
  });

  it('delivers across several Hubs sharing a MemoryBus, in order, to channels with subscribers only', async () => {
    const bus = new MemoryBus();
    const h1 = await makeHub({ broker: new MemoryBroker({ bus }) });
    const h2 = await makeHub({ broker: new MemoryBroker({ bus }) });
    const a = connect(h1);
    const b = connect(h2);
    send(h1, a.conn, { type: 'subscribe', channel: 'x' });
    send(h2, b.conn, { type: 'subscribe', channel: 'x' });
    for (let i = 0; i < 50; i++) (i % 2 === 0 ? h1 : h2).publish('x', 'e', i);
    await tick();
    const expected = Array.from({ length: 50 }, (_, i) => i + 1);
    expect(a.socket.messages().map((m) => m.offset)).toEqual(expected);
    expect(b.socket.messages().map((m) => m.offset)).toEqual(expected);
    // b reconnects to h1 and recovers there
    const epoch = b.socket.of('ack')[0]!.epoch;
    h2.publish('x', 'e', 'later');
    const b2 = connect(h1);
    send(h1, b2.conn, { type: 'subscribe', channel: 'x', since: { epoch, offset: 48 } });
    await tick();
    expect(b2.socket.messages().map((m) => m.offset)).toEqual([49, 50, 51]);
  });

  it("disconnectUser closes a user's connections on every Hub (a volatile line on its personal channel)", async () => {
    const bus = new MemoryBus();
    const h1 = await makeHub({ broker: new MemoryBroker({ bus }) });
    const h2 = await makeHub({ broker: new MemoryBroker({ bus }) });
    const a1 = connect(h1, 'u1');
    const a2 = connect(h1, 'u1');
    const b1 = connect(h2, 'u1');
    const other = connect(h2, 'u2');
    const anonymous = connect(h2);
    const scoped = connect(h2);
    h2.identify(scoped.conn, { userId: 'app:2:u1' });
    await tick();
    expect(h1.disconnectUser('u1', 4009, 'terminated')).toBe(2);
    await tick();
    for (const s of [a1, a2, b1]) expect(s.socket.closedWith).toEqual({ code: 4009, reason: 'terminated' });
    for (const s of [other, anonymous, scoped]) expect(s.socket.closedWith).toBeUndefined();
    // a user with no connection on the calling Hub: the others close theirs
    expect(h1.disconnectUser('app:2:u1', 4000, 'bye')).toBe(0);
    await tick();
    expect(scoped.socket.closedWith).toEqual({ code: 4000, reason: 'bye' });
    // the control line is never forwarded to clients; one naming another user than its channel's is dropped
    h1.broker.publishVolatile('user:u2', '{"type":"_terminate","userId":"u1","code":4009,"reason":"x"}');
    h1.broker.publishVolatile('user:u2', '{"type":"_terminate","userId":"u2","code":1006,"reason":"x"}');
    await tick();
    expect(other.socket.closedWith).toBeUndefined();
    expect(other.socket.frames.filter((f) => f.type === '_terminate')).toEqual([]);
    expect(() => h1.disconnectUser('u2', 1006, 'x')).toThrow(TypeError);
    expect(() => h1.disconnectUser('u2', 4000, 'x'.repeat(124))).toThrow(TypeError);
    h1.disconnectUser('u2', 1008, 'kicked');
    await tick();
    expect(other.socket.closedWith).toEqual({ code: 1008, reason: 'kicked' });
  });

  it('shuts down with 1001 and refuses new connections', async () => {
    const hub = await makeHub();
    const a = connect(hub);
    hub.close();
    expect(a.socket.closedWith?.code).toBe(1001);
    expect(() => connect(hub)).toThrow(/shutting down/);
    hub.close();
  });
});
