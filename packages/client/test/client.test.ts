import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  type ChannelMessage,
  type GapInfo,
  type WebSocketConstructor,
  createClient,
  isUnisocketError,
} from '../src/index';
import { type FakeConnection, fakeTransport, tick } from './fake-transport';

/** A client on a fake transport, connected; the test plays the server. */
async function connected(options: Parameters<typeof createClient>[0] extends infer O ? Partial<O> : never = {}) {
  const fake = fakeTransport();
  const client = createClient({
    url: 'ws://fake/ws',
    transport: fake.factory,
    reconnect: { initialDelayMs: 0, maxDelayMs: 0, stableAfterMs: 0 },
    ...options,
  });
  const ready = client.connect();
  await tick();
  const conn = fake.connections[0]!;
  conn.welcome();
  await ready;
  return { client, fake, conn };
}

/** Acks the last subscribe of `channel` on `conn`. */
function ackSubscribe(conn: FakeConnection, channel: string, fields: object): void {
  const cmd = conn.sent.filter((c) => c.type === 'subscribe' && c.channel === channel).at(-1)!;
  conn.push({ type: 'ack', ref: cmd.ref, channel, ...fields });
}

const message = (channel: string, offset: number, event = 'e', data: unknown = offset) => ({
  type: 'message',
  channel,
  event,
  data,
  id: `m${offset}`,
  offset,
  ts: 1,
});

describe('connection basics (fake transport)', () => {
  it('handles welcome, answers ping with pong, and exposes the connection in the snapshot', async () => {
    const { client, conn } = await connected();
    expect(client.getSnapshot()).toMatchObject({
      status: 'connected',
      connectionId: 'conn-ws://fake/ws',
      userId: null,
      attempt: 0,
    });
    conn.push({ type: 'ping' });
    expect(conn.sent.at(-1)).toEqual({ type: 'pong' });
    client.disconnect();
    expect(conn.closed).toEqual({ code: 1000, reason: 'client disconnect' });
    expect(client.getSnapshot().status).toBe('disconnected');
  });

  it('batches commands issued in one turn into one send', async () => {
    const { client, conn } = await connected();
    const before = conn.batches.length;
    client.subscribe('a');
    client.subscribe('b');
    client.subscribe('c');
    await tick();
    expect(conn.batches.length).toBe(before + 1);
    expect(conn.batches.at(-1)!.map((c) => (c as { channel: string }).channel)).toEqual(['a', 'b', 'c']);
  });
});

describe('delivery: order and dedup', () => {
  it('drops messages whose offset is not past the last one (second guard against duplicates)', async () => {
    const { client, conn } = await connected();
    const seen: number[] = [];
    client.subscribe('news', { onMessage: (m) => seen.push(m.offset) });
    await tick();
    ackSubscribe(conn, 'news', { epoch: 'E', offset: 5 });
    conn.push(
      message('news', 6),
      message('news', 7),
      message('news', 7),
      message('news', 5),
      message('news', 8),
      message('news', 6),
    );
    expect(seen).toEqual([6, 7, 8]);
    expect(client.stats.duplicates).toBe(3);
    expect(client.getSnapshot().channels.news).toMatchObject({
      status: 'subscribed',
      epoch: 'E',
      offset: 8,
      recovered: null,
    });
  });

  it('ignores messages that arrive before the subscribe ack (the ack position covers them)', async () => {
    const { client, conn } = await connected();
    const seen: number[] = [];
    client.subscribe('news', { onMessage: (m) => seen.push(m.offset) });
    await tick();
    conn.push(message('news', 3));
    ackSubscribe(conn, 'news', { epoch: 'E', offset: 3 });
    conn.push(message('news', 4));
    expect(seen).toEqual([4]);
  });

  it('routes by event name, with a catch-all, and typed events', async () => {
    const { client, conn } = await connected();
    type ChatEvents = { say: { text: string }; join: { user: string } };
    const said: string[] = [];
    const all: string[] = [];
    const chat = client.subscribe<ChatEvents>('chat', { events: { join: (d) => all.push(`join:${d.user}`) } });
    const off = chat.on('say', (data, msg) => {
      expectTypeOf(data).toEqualTypeOf<{ text: string }>();
      expectTypeOf(msg.event).toEqualTypeOf<'say'>();
      said.push(data.text);
    });
    chat.onMessage((m) => {
      if (m.event === 'say') expectTypeOf(m.data).toEqualTypeOf<{ text: string }>();
      all.push(m.event);
    });
    // @ts-expect-error: 'shout' is not an event of ChatEvents
    chat.on('shout', () => undefined);
    await tick();
    ackSubscribe(conn, 'chat', { epoch: 'E', offset: 0 });
    conn.push(message('chat', 1, 'say', { text: 'hi' }), message('chat', 2, 'join', { user: 'ann' }));
    off();
    conn.push(message('chat', 3, 'say', { text: 'unheard' }));
    expect(said).toEqual(['hi']);
    expect(all).toEqual(['say', 'join:ann', 'join', 'say']);
  });

  it('keeps delivering to the other handlers when one throws', async () => {
    const { client, conn } = await connected();
    const reported: unknown[] = [];
    const original = globalThis.reportError;
    (globalThis as { reportError?: (e: unknown) => void }).reportError = (e) => reported.push(e);
    try {
      const seen: number[] = [];
      const sub = client.subscribe('x');
      sub.onMessage(() => {
        throw new Error('app bug');
      });
      sub.onMessage((m) => seen.push(m.offset));
      await tick();
      ackSubscribe(conn, 'x', { epoch: 'E', offset: 0 });
      conn.push(message('x', 1), message('x', 2));
      expect(seen).toEqual([1, 2]);
      expect(reported).toHaveLength(2);
    } finally {
      (globalThis as { reportError?: unknown }).reportError = original;
    }
  });

  it('delivers `*` broadcasts and unsubscribed channels through client.on("message")', async () => {
    const { client, conn } = await connected();
    const got: ChannelMessage[] = [];
    client.on('message', (m) => got.push(m));
    conn.push(message('*', 1, 'broadcast'), message('user:u1', 4, 'notification'));
    expect(got.map((m) => `${m.channel}/${m.offset}`)).toEqual(['*/1', 'user:u1/4']);
  });
});

describe('recovery', () => {
  it('resubscribes every channel with since in one batch after a reconnect, and replays without loss', async () => {
    const { client, fake, conn } = await connected();
    const seen: number[] = [];
    client.subscribe('a', { onMessage: (m) => seen.push(m.offset) });
    client.subscribe('b');
    await tick();
    ackSubscribe(conn, 'a', { epoch: 'EA', offset: 10 });
    ackSubscribe(conn, 'b', { epoch: 'EB', offset: 0 });
    conn.push(message('a', 11), message('a', 12));
    conn.drop(1006);
    expect(client.getSnapshot().status).toBe('reconnecting');
    expect(client.getSnapshot().channels.a!.status).toBe('recovering');
    await vi.waitFor(() => expect(fake.connections).toHaveLength(2));
    const conn2 = fake.connections[1]!;
    conn2.welcome();
    const batch = conn2.batches[0]!;
    expect(batch).toEqual([
      expect.objectContaining({ type: 'subscribe', channel: 'a', since: { epoch: 'EA', offset: 12 } }),
      expect.objectContaining({ type: 'subscribe', channel: 'b', since: { epoch: 'EB', offset: 0 } }),
    ]);
    // recovered: the missed messages follow the ack, then live ones
    ackSubscribe(conn2, 'a', { epoch: 'EA', offset: 14, recovered: true });
    conn2.push(message('a', 13), message('a', 14), message('a', 15));
    expect(seen).toEqual([11, 12, 13, 14, 15]);
    expect(client.getSnapshot().channels.a).toMatchObject({ status: 'subscribed', recovered: true, offset: 15 });
    expect(client.stats.reconnects).toBe(1);
  });

  it('reports a gap when the server could not recover (recovered: false) and restarts from the ack', async () => {
    const { client, fake, conn } = await connected();
    const gaps: GapInfo[] = [];
    const seen: number[] = [];
    client.subscribe('a', { onGap: (g) => gaps.push(g), onMessage: (m) => seen.push(m.offset) });
    const clientGaps: GapInfo[] = [];
    client.on('gap', (g) => clientGaps.push(g));
    await tick();
    ackSubscribe(conn, 'a', { epoch: 'E1', offset: 3 });
    conn.drop(4008, 'slow consumer');
    await vi.waitFor(() => expect(fake.connections).toHaveLength(2));
    const conn2 = fake.connections[1]!;
    conn2.welcome();
    ackSubscribe(conn2, 'a', { epoch: 'E2', offset: 40, recovered: false });
    conn2.push(message('a', 41));
    expect(gaps).toEqual([
      {
        channel: 'a',
        reason: 'not-recovered',
        previous: { epoch: 'E1', offset: 3 },
        position: { epoch: 'E2', offset: 40 },
      },
    ]);
    expect(clientGaps).toEqual(gaps);
    expect(seen).toEqual([41]);
    expect(client.getSnapshot().channels.a).toMatchObject({ recovered: false, epoch: 'E2', offset: 41 });
  });

  it('handles a resync frame: new epoch and offset, a gap event', async () => {
    const { client, conn } = await connected();
    const gaps: GapInfo[] = [];
    const seen: number[] = [];
    client.subscribe('a', { onGap: (g) => gaps.push(g), onMessage: (m) => seen.push(m.offset) });
    await tick();
    ackSubscribe(conn, 'a', { epoch: 'E1', offset: 7 });
    conn.push({ type: 'resync', channel: 'a', epoch: 'E9', offset: 2 }, message('a', 3));
    expect(gaps).toEqual([
      { channel: 'a', reason: 'resync', previous: { epoch: 'E1', offset: 7 }, position: { epoch: 'E9', offset: 2 } },
    ]);
    expect(seen).toEqual([3]);
  });

  it('resends unacknowledged publishes with the same id after a reconnect', async () => {
    const { client, fake, conn } = await connected();
    const p = client.publish('chat', 'say', { text: 'hi' });
    await tick();
    const first = conn.last('publish');
    conn.drop(1006);
    await vi.waitFor(() => expect(fake.connections).toHaveLength(2));
    const conn2 = fake.connections[1]!;
    conn2.welcome();
    const again = conn2.last('publish');
    expect(again.id).toBe(first.id);
    expect(again.data).toEqual({ text: 'hi' });
    conn2.push({ type: 'ack', ref: again.ref, channel: 'chat', id: again.id, offset: 9, duplicate: true });
    await expect(p).resolves.toEqual({ id: first.id, channel: 'chat', offset: 9, duplicate: true });
    expect(client.stats.publishesResent).toBe(1);
  });
});

describe('store', () => {
  it('returns the same snapshot until something changes, and frozen objects', async () => {
    const { client, conn } = await connected();
    const s1 = client.store.getSnapshot();
    expect(client.store.getSnapshot()).toBe(s1);
    expect(Object.isFrozen(s1)).toBe(true);
    expect(Object.isFrozen(s1.channels)).toBe(true);
    client.subscribe('a');
    client.subscribe('b');
    const s2 = client.store.getSnapshot();
    expect(s2).not.toBe(s1);
    expect(client.store.getSnapshot()).toBe(s2);
    await tick();
    ackSubscribe(conn, 'a', { epoch: 'E', offset: 0 });
    ackSubscribe(conn, 'b', { epoch: 'E', offset: 0 });
    const s3 = client.store.getSnapshot();
    conn.push(message('a', 1));
    const s4 = client.store.getSnapshot();
    expect(s4).not.toBe(s3);
    // channel b did not change: same object
    expect(s4.channels.b).toBe(s3.channels.b);
    expect(s4.channels.a).not.toBe(s3.channels.a);
    expect(s4.channels.a!.lastMessage).toMatchObject({ offset: 1 });
    // a command that changes nothing visible keeps the snapshot
    conn.push({ type: 'pong' });
    expect(client.store.getSnapshot()).toBe(s4);
  });

  it('notifies listeners once per burst, and channel stores only for their channel', async () => {
    const { client, conn } = await connected();
    client.subscribe('a');
    client.subscribe('b');
    await tick();
    ackSubscribe(conn, 'a', { epoch: 'E', offset: 0 });
    ackSubscribe(conn, 'b', { epoch: 'E', offset: 0 });
    await tick();
    const root = vi.fn();
    const aListener = vi.fn();
    const bListener = vi.fn();
    const unsub = client.store.subscribe(root);
    const aStore = client.channelStore('a');
    client.channelStore('b').subscribe(bListener);
    aStore.subscribe(aListener);
    conn.push(message('a', 1), message('a', 2), message('a', 3));
    await tick();
    expect(root).toHaveBeenCalledTimes(1);
    expect(aListener).toHaveBeenCalledTimes(1);
    expect(bListener).not.toHaveBeenCalled();
    expect(aStore.getSnapshot().offset).toBe(3);
    unsub();
    conn.push(message('a', 4));
    await tick();
    expect(root).toHaveBeenCalledTimes(1);
    expect(aListener).toHaveBeenCalledTimes(2);
  });

  it('gives a stable unsubscribed snapshot for channels the client does not hold', async () => {
    const { client } = await connected();
    const store = client.channelStore('nothing');
    const s = store.getSnapshot();
    expect(s).toMatchObject({ channel: 'nothing', status: 'unsubscribed', epoch: null, members: null });
    expect(store.getSnapshot()).toBe(s);
    const sub = client.subscribe('nothing');
    expect(store.getSnapshot().status).toBe('subscribing');
    sub.unsubscribe();
    expect(store.getSnapshot()).toBe(s);
    expect(sub.getSnapshot().status).toBe('unsubscribed');
    expect(sub.getSnapshot()).toBe(sub.getSnapshot());
  });

  it('shares one server subscription between handles and leaves with the last', async () => {
    const { client, conn } = await connected();
    const h1 = client.subscribe('a');
    const h2 = client.subscribe('a');
    await tick();
    expect(conn.sent.filter((c) => c.type === 'subscribe')).toHaveLength(1);
    ackSubscribe(conn, 'a', { epoch: 'E', offset: 0 });
    await expect(h2.whenSubscribed()).resolves.toMatchObject({ status: 'subscribed' });
    h1.unsubscribe();
    await tick();
    expect(conn.sent.filter((c) => c.type === 'unsubscribe')).toHaveLength(0);
    h2.unsubscribe();
    await tick();
    expect(conn.last('unsubscribe').channel).toBe('a');
    expect(client.getSnapshot().channels.a).toBeUndefined();
  });

  it('a handle that leaves and comes back within one turn keeps the subscription (React StrictMode effects)', async () => {
    const { client, conn } = await connected();
    const first = client.subscribe('a');
    await tick();
    ackSubscribe(conn, 'a', { epoch: 'E', offset: 0 });
    conn.push(message('a', 1));
    await tick();
    const before = client.channelStore('a').getSnapshot();
    expect(before).toMatchObject({ status: 'subscribed', offset: 1, lastMessage: { offset: 1 } });
    const listener = vi.fn();
    client.store.subscribe(listener);
    // mount → unmount → mount in one synchronous commit
    first.unsubscribe();
    const second = client.subscribe('a');
    await tick();
    expect(conn.sent.filter((c) => c.type === 'subscribe')).toHaveLength(1);
    expect(conn.sent.filter((c) => c.type === 'unsubscribe')).toHaveLength(0);
    expect(second.getSnapshot()).toBe(before);
    expect(listener).not.toHaveBeenCalled();
    const got: number[] = [];
    second.onMessage((m) => got.push(m.offset));
    conn.push(message('a', 2));
    expect(got).toEqual([2]);
    // a handle left for good is unsubscribed at the server once the turn ends
    second.unsubscribe();
    expect(client.channelStore('a').getSnapshot().status).toBe('unsubscribed');
    await tick();
    expect(conn.last('unsubscribe').channel).toBe('a');
    // and a later subscribe starts a fresh subscription
    client.subscribe('a');
    await tick();
    expect(conn.sent.filter((c) => c.type === 'subscribe')).toHaveLength(2);
  });

  it('connectionStore changes with the connection only, not with channel messages', async () => {
    const { client, conn } = await connected();
    const sub = client.subscribe('a');
    await tick();
    ackSubscribe(conn, 'a', { epoch: 'E', offset: 0 });
    const listener = vi.fn();
    client.connectionStore.subscribe(listener);
    const before = client.connectionStore.getSnapshot();
    expect(before).toMatchObject({ status: 'connected', connectionId: 'conn-ws://fake/ws' });
    expect('channels' in before).toBe(false);
    conn.push(message('a', 1), message('a', 2));
    await tick();
    expect(sub.getSnapshot().offset).toBe(2);
    expect(client.connectionStore.getSnapshot()).toBe(before);
    expect(listener).not.toHaveBeenCalled();
    conn.drop(1006);
    await tick();
    expect(listener).toHaveBeenCalled();
    expect(client.connectionStore.getSnapshot().status).toBe('reconnecting');
  });

  it('a handle taken and left within one turn (a store read once) sends nothing', async () => {
    const { client, conn } = await connected();
    const before = conn.sent.length;
    client.subscribe('glance').unsubscribe();
    await tick();
    expect(conn.sent.length).toBe(before);
    expect(client.channels).toEqual([]);
  });

  it('a subscribe still in flight when its last handle leaves is answered and ignored', async () => {
    const { client, conn } = await connected();
    const sub = client.subscribe('a');
    await tick();
    const ref = conn.last('subscribe').ref;
    sub.unsubscribe();
    await tick();
    expect(conn.last('unsubscribe').channel).toBe('a');
    conn.push({ type: 'ack', ref, channel: 'a', epoch: 'E', offset: 0 });
    conn.push(message('a', 1));
    expect(client.getSnapshot().channels.a).toBeUndefined();
  });
});

describe('errors', () => {
  it('rejects a publish with the error frame carrying its ref', async () => {
    const { client, conn } = await connected();
    const p = client.publish('chat', 'say', 1);
    await tick();
    conn.push({ type: 'error', ref: conn.last('publish').ref, code: 'FORBIDDEN', message: 'no', channel: 'chat' });
    const error = await p.catch((e: unknown) => e);
    expect(isUnisocketError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'FORBIDDEN', channel: 'chat' });
  });

  it('refuses bad publishes at once, before sending', async () => {
    const { client, conn } = await connected({ maxPayloadBytes: 200 });
    await expect(client.publish('bad channel', 'e')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(client.publish('ok', '')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(client.publish('ok', 'e', { n: 1n })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: /JSON/ });
    await expect(client.publish('ok', 'e', 'x'.repeat(300))).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    await expect(client.publish('ok', 'e', 1, { id: 'has space' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(client.whisper('public-room', 'typing')).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: /private- and presence-/,
    });
    await tick();
    expect(conn.sent.filter((c) => c.type === 'publish')).toHaveLength(0);
  });

  it('times out a publish that gets no ack, saying whether it may have been published', async () => {
    const { client } = await connected({ publishTimeoutMs: 30 });
    await expect(client.publish('chat', 'say', 1)).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: /may have been published/,
    });
  });

  it('a subscription refused for good rejects whenSubscribed and calls onError', async () => {
    const { client, conn } = await connected();
    const errors: string[] = [];
    const sub = client.subscribe('private-x', { onError: (e) => errors.push(e.code) });
    const waiting = sub.whenSubscribed();
    await tick();
    conn.push({
      type: 'error',
      ref: conn.last('subscribe').ref,
      code: 'FORBIDDEN',
      message: 'needs authorization',
      channel: 'private-x',
    });
    await expect(waiting).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(errors).toEqual(['FORBIDDEN']);
    // asking again after the refusal answers at once
    await expect(sub.whenSubscribed()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // a later handle hears of the refusal too
    const late: string[] = [];
    client.subscribe('private-x', { onError: (e) => late.push(e.code) });
    expect(late).toEqual(['FORBIDDEN']);
    expect(client.getSnapshot().channels['private-x']).toMatchObject({ status: 'error', error: { code: 'FORBIDDEN' } });
  });

  it('retries a subscription refused for a temporary reason', async () => {
    const { client, conn } = await connected();
    client.subscribe('busy');
    await tick();
    conn.push({ type: 'error', ref: conn.last('subscribe').ref, code: 'RATE_LIMITED', message: 'slow down' });
    expect(client.getSnapshot().channels.busy!.status).toBe('error');
    await vi.waitFor(() => expect(conn.sent.filter((c) => c.type === 'subscribe')).toHaveLength(2));
    ackSubscribe(conn, 'busy', { epoch: 'E', offset: 0 });
    expect(client.getSnapshot().channels.busy).toMatchObject({ status: 'subscribed', error: null });
  });
});

describe('presence', () => {
  it('keeps members from the ack and join/leave frames', async () => {
    const { client, conn } = await connected();
    const changes: string[] = [];
    const room = client.subscribe('presence-room', {
      onPresence: (c) => changes.push(`${c.action}:${c.member.userId}`),
    });
    await tick();
    ackSubscribe(conn, 'presence-room', { epoch: 'E', offset: 0, members: [{ userId: 'u1' }] });
    expect(room.members).toEqual([{ userId: 'u1' }]);
    conn.push({
      type: 'presence',
      channel: 'presence-room',
      action: 'join',
      member: { userId: 'u2', info: { name: 'B' } },
    });
    conn.push({
      type: 'presence',
      channel: 'presence-room',
      action: 'join',
      member: { userId: 'u2', info: { name: 'B2' } },
    });
    expect(room.members).toEqual([{ userId: 'u1' }, { userId: 'u2', info: { name: 'B2' } }]);
    conn.push({ type: 'presence', channel: 'presence-room', action: 'leave', member: { userId: 'u1' } });
    expect(room.members).toEqual([{ userId: 'u2', info: { name: 'B2' } }]);
    expect(changes).toEqual(['join:u2', 'join:u2', 'leave:u1']);
    expect(Object.isFrozen(room.members)).toBe(true);
  });
});

describe('WebSocket implementations', () => {
  it('accepts the DOM WebSocket and ws constructors as WebSocketConstructor (type level)', () => {
    expectTypeOf<typeof WebSocket>().toMatchTypeOf<WebSocketConstructor>();
    expectTypeOf<typeof import('ws').WebSocket>().toMatchTypeOf<WebSocketConstructor>();
  });
});

describe('custom transports', () => {
  it('may report frames before the factory returns (held until the transport is known)', async () => {
    const sent: string[] = [];
    const client = createClient({
      url: 'ws://sync/ws',
      transport: (_url, handlers) => {
        handlers.onOpen();
        handlers.onFrame({ type: 'welcome', connectionId: 'sync', protocol: 1, heartbeatMs: 25_000, userId: null });
        handlers.onFrame({ type: 'ping' });
        return { name: 'sync', send: (cmds) => sent.push(...cmds.map((c) => c.command.type)), close: () => undefined };
      },
    });
    client.subscribe('a');
    await client.connect();
    expect(client.getSnapshot().connectionId).toBe('sync');
    expect(sent).toEqual(['subscribe', 'pong']);
  });
});
