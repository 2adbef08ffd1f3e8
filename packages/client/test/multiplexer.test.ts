import type { ClientCommand, ServerFrame } from '@unisocket/core/protocol';
import { describe, expect, it } from 'vitest';
import { Multiplexer } from '../src/multiplexer';
import { fakeTransport, tick } from './fake-transport';

/** A multiplexer on a fake real connection; `vc(id)` opens a virtual connection that records what it gets. */
function setup(replayBufferSize = 4) {
  const fake = fakeTransport();
  const mux = new Multiplexer({ factory: fake.factory, replayBufferSize, idleCloseMs: 20 });
  const limits = { maxPayloadBytes: 65_536, maxCommandsPerFrame: 50 };
  const vc = (id: string) => {
    const got: ServerFrame[] = [];
    const state = { got, closed: undefined as { code: number; reason: string } | undefined };
    mux.open(id, 'ws://fake/ws', limits, {
      frames: (f) => got.push(...f),
      close: (code, reason) => (state.closed = { code, reason }),
    });
    return {
      ...state,
      get closedWith() {
        return state.closed;
      },
      send: (...commands: ClientCommand[]) => mux.command(id, commands),
      messages: () => got.filter((f) => f.type === 'message').map((f) => (f as { offset: number }).offset),
      last: (type: string) => got.filter((f) => f.type === type).at(-1) as Record<string, unknown> | undefined,
    };
  };
  const server = () => fake.connections.at(-1)!;
  const welcome = async () => {
    await tick();
    server().welcome({ connectionId: 'real' });
    await tick();
  };
  const msg = (channel: string, offset: number) => ({
    type: 'message',
    channel,
    event: 'e',
    data: offset,
    id: `m${offset}`,
    offset,
    ts: 1,
  });
  /** The last subscribe the real connection sent for `channel`. */
  const lastSubscribe = (channel: string) =>
    server()
      .sent.filter((c) => c.type === 'subscribe' && c.channel === channel)
      .at(-1) as { ref: number; since?: { epoch: string; offset: number } } | undefined;
  return { mux, fake, vc, server, welcome, msg, lastSubscribe };
}

describe('Multiplexer', () => {
  it('welcomes every virtual connection with the real one and forwards commands with their own refs', async () => {
    const { vc, server, welcome } = setup();
    const a = vc('a');
    const b = vc('b');
    await welcome();
    expect(a.got[0]).toMatchObject({ type: 'welcome', connectionId: 'real' });
    expect(b.got[0]).toMatchObject({ type: 'welcome', connectionId: 'real' });
    a.send({ type: 'publish', channel: 'c', event: 'e', ref: 1, id: 'x1' });
    b.send({ type: 'publish', channel: 'c', event: 'e', ref: 1, id: 'x2' });
    await tick();
    const [p1, p2] = server().sent.filter((c) => c.type === 'publish') as { ref: number }[];
    expect(p1!.ref).not.toBe(p2!.ref);
    server().push(
      { type: 'ack', ref: p2!.ref, channel: 'c', id: 'x2', offset: 2 },
      { type: 'ack', ref: p1!.ref, channel: 'c', id: 'x1', offset: 1 },
    );
    await tick();
    expect(a.last('ack')).toMatchObject({ ref: 1, id: 'x1', offset: 1 });
    expect(b.last('ack')).toMatchObject({ ref: 1, id: 'x2', offset: 2 });
    // the server's heartbeat: answered once by the multiplexer, passed on to the clients
    server().push({ type: 'ping' });
    expect(server().sent.at(-1)).toEqual({ type: 'pong' });
    await tick();
    expect(a.last('ping')).toBeDefined();
  });

  it('subscribes a channel at the server once; a later holder starts at the held position; left with the last', async () => {
    const { vc, server, welcome, msg, lastSubscribe } = setup();
    const a = vc('a');
    const b = vc('b');
    await welcome();
    a.send({ type: 'subscribe', channel: 'n', ref: 7 });
    await tick();
    server().push({ type: 'ack', ref: lastSubscribe('n')!.ref, channel: 'n', epoch: 'E', offset: 3 });
    server().push(msg('n', 4));
    b.send({ type: 'subscribe', channel: 'n', ref: 9 });
    await tick();
    expect(server().sent.filter((c) => c.type === 'subscribe')).toHaveLength(1);
    expect(a.last('ack')).toMatchObject({ ref: 7, epoch: 'E', offset: 3 });
    expect(b.last('ack')).toMatchObject({ ref: 9, epoch: 'E', offset: 4 });
    server().push(msg('n', 5));
    await tick();
    expect(a.messages()).toEqual([4, 5]);
    expect(b.messages()).toEqual([5]);
    a.send({ type: 'unsubscribe', channel: 'n', ref: 10 });
    await tick();
    expect(server().sent.filter((c) => c.type === 'unsubscribe')).toHaveLength(0);
    expect(a.last('ack')).toMatchObject({ ref: 10, channel: 'n' });
    b.send({ type: 'unsubscribe', channel: 'n', ref: 11 });
    await tick();
    expect(server().sent.filter((c) => c.type === 'unsubscribe')).toHaveLength(1);
  });

  it('serves a resubscribe from its replay buffer when it covers the position; asks the server otherwise', async () => {
    const { vc, server, welcome, msg, lastSubscribe } = setup(4);
    const a = vc('a');
    await welcome();
    a.send({ type: 'subscribe', channel: 'n', ref: 1 });
    await tick();
    server().push({ type: 'ack', ref: lastSubscribe('n')!.ref, channel: 'n', epoch: 'E', offset: 0 });
    for (let i = 1; i <= 10; i++) server().push(msg('n', i));
    // the buffer holds 7..10: a position at 6 is covered
    const b = vc('b');
    await tick();
    b.send({ type: 'subscribe', channel: 'n', ref: 1, since: { epoch: 'E', offset: 6 } });
    await tick();
    expect(server().sent.filter((c) => c.type === 'subscribe')).toHaveLength(1);
    expect(b.last('ack')).toMatchObject({ recovered: true, epoch: 'E' });
    expect(b.messages()).toEqual([7, 8, 9, 10]);
    // a position at 2 is not: the server replays, and only the one that asked gets the old messages
    const c = vc('c');
    await tick();
    c.send({ type: 'subscribe', channel: 'n', ref: 1, since: { epoch: 'E', offset: 2 } });
    await tick();
    expect(lastSubscribe('n')!.since).toEqual({ epoch: 'E', offset: 2 });
    server().push({ type: 'ack', ref: lastSubscribe('n')!.ref, channel: 'n', epoch: 'E', offset: 11, recovered: true });
    for (let i = 3; i <= 11; i++) server().push(msg('n', i));
    await tick();
    expect(c.messages()).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(b.messages()).toEqual([7, 8, 9, 10, 11]);
    expect(a.messages()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('a subscribe that needs the server waits until an earlier replay is done (the server refuses overlapping ones)', async () => {
    const { vc, server, welcome, msg, lastSubscribe } = setup(4);
    const a = vc('a');
    const b = vc('b');
    await welcome();
    a.send({ type: 'subscribe', channel: 'n', ref: 1, since: { epoch: 'E', offset: 5 } });
    await tick();
    server().push({ type: 'ack', ref: lastSubscribe('n')!.ref, channel: 'n', epoch: 'E', offset: 8, recovered: true });
    b.send({ type: 'subscribe', channel: 'n', ref: 1, since: { epoch: 'E', offset: 2 } });
    await tick();
    expect(server().sent.filter((c) => c.type === 'subscribe')).toHaveLength(1);
    server().push(msg('n', 6), msg('n', 7));
    await tick();
    expect(server().sent.filter((c) => c.type === 'subscribe')).toHaveLength(1);
    server().push(msg('n', 8));
    await tick();
    expect(lastSubscribe('n')!.since).toEqual({ epoch: 'E', offset: 2 });
  });

  it('a resubscribe the server could not recover resyncs the holders that missed messages', async () => {
    const { vc, server, welcome, msg, lastSubscribe } = setup(2);
    const a = vc('a');
    const b = vc('b');
    await welcome();
    a.send({ type: 'subscribe', channel: 'n', ref: 1 });
    await tick();
    server().push({ type: 'ack', ref: lastSubscribe('n')!.ref, channel: 'n', epoch: 'E', offset: 0 });
    server().push(msg('n', 1), msg('n', 2), msg('n', 3));
    b.send({ type: 'subscribe', channel: 'n', ref: 1, since: { epoch: 'E', offset: 0 } });
    await tick();
    server().push({ type: 'ack', ref: lastSubscribe('n')!.ref, channel: 'n', epoch: 'E', offset: 5, recovered: false });
    await tick();
    expect(b.last('ack')).toMatchObject({ recovered: false, offset: 5 });
    expect(a.last('resync')).toMatchObject({ channel: 'n', epoch: 'E', offset: 5 });
    server().push(msg('n', 6));
    await tick();
    expect(a.messages()).toEqual([1, 2, 3, 6]);
    expect(b.messages()).toEqual([6]);
  });

  it('tracks presence members for later holders', async () => {
    const { vc, server, welcome, lastSubscribe } = setup();
    const a = vc('a');
    await welcome();
    a.send({ type: 'subscribe', channel: 'presence-room', ref: 1 });
    await tick();
    server().push({
      type: 'ack',
      ref: lastSubscribe('presence-room')!.ref,
      channel: 'presence-room',
      epoch: 'E',
      offset: 0,
      members: [{ userId: 'u1' }],
    });
    server().push({ type: 'presence', channel: 'presence-room', action: 'join', member: { userId: 'u2' } });
    const b = vc('b');
    await tick();
    b.send({ type: 'subscribe', channel: 'presence-room', ref: 1 });
    await tick();
    expect(b.last('ack')!.members).toEqual([{ userId: 'u1' }, { userId: 'u2' }]);
    expect(a.last('presence')).toMatchObject({ action: 'join', member: { userId: 'u2' } });
  });

  it('ends every virtual connection with the real one, and closes the real one when no virtual one is left', async () => {
    const { mux, vc, server, welcome } = setup();
    const a = vc('a');
    const b = vc('b');
    await welcome();
    server().drop(1001, 'restart');
    expect(a.closedWith).toEqual({ code: 1001, reason: 'restart' });
    expect(b.closedWith).toEqual({ code: 1001, reason: 'restart' });
    const c = vc('c');
    await welcome();
    expect(c.got[0]).toMatchObject({ type: 'welcome' });
    mux.close('c');
    await new Promise((r) => setTimeout(r, 60));
    expect(server().closed).toMatchObject({ code: 1000 });
  });

  it('a refused subscribe reaches the one that asked', async () => {
    const { vc, server, welcome, lastSubscribe } = setup();
    const a = vc('a');
    await welcome();
    a.send({ type: 'subscribe', channel: 'private-x', ref: 4 });
    await tick();
    server().push({
      type: 'error',
      ref: lastSubscribe('private-x')!.ref,
      code: 'FORBIDDEN',
      message: 'no',
      channel: 'private-x',
    });
    await tick();
    expect(a.last('error')).toMatchObject({ ref: 4, code: 'FORBIDDEN' });
    a.send({ type: 'subscribe', channel: 'private-x', ref: 5 });
    await tick();
    expect(server().sent.filter((c) => c.type === 'subscribe')).toHaveLength(2);
  });
});
