import { afterEach, describe, expect, it } from 'vitest';
import {
  type Connection,
  Hub,
  PreparedBatch,
  appScopeLength,
  channelKind,
  decodeCommand,
  userChannel,
  userIdOfChannel,
} from '../src/index';
import { FakeSocket, tick } from './fake-socket';

const hubs: Hub[] = [];
async function makeHub(): Promise<Hub> {
  const hub = new Hub({ presence: { leaveGraceMs: 0 }, policy: { authorizePublish: () => true } });
  await hub.start();
  hubs.push(hub);
  return hub;
}
function connect(hub: Hub): { conn: Connection; socket: FakeSocket } {
  const socket = new FakeSocket();
  return { conn: hub.addConnection({ socket, transport: 'native', ip: '127.0.0.1' }), socket };
}
const send = (hub: Hub, conn: Connection, cmd: object): void => hub.handleText(conn, JSON.stringify(cmd));

afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
});

describe('app namespaces', () => {
  it('channel kinds and personal channels see through an app scope', () => {
    expect(appScopeLength('app:2:presence-x')).toBe(6);
    expect(appScopeLength('app::x')).toBe(0);
    expect(channelKind('app:2:presence-x')).toBe('presence');
    expect(channelKind('app:2:private-x')).toBe('private');
    expect(channelKind('app:2:news')).toBe('public');
    expect(userChannel('app:2:u1')).toBe('app:2:user:u1');
    expect(userIdOfChannel('app:2:user:u1')).toBe('app:2:u1');
    expect(channelKind('app:2:user:u1')).toBe('user');
    expect(userChannel('u1')).toBe('user:u1');
    expect(userIdOfChannel('user:app:2:u1')).toBe('app:2:u1');
  });

  it('native clients may not name app-scoped channels', () => {
    for (const type of ['subscribe', 'publish', 'unsubscribe']) {
      const result = decodeCommand(JSON.stringify({ type, channel: 'app:2:news', event: 'e' }));
      expect(result).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('reserved') });
    }
  });

  it('identities from a handshake or auth may not take app-scoped user ids; identify() may', async () => {
    const hub = await makeHub();
    expect(() =>
      hub.addConnection({ socket: new FakeSocket(), transport: 'native', ip: '', identity: { userId: 'app:2:u1' } }),
    ).toThrow(/reserved/);
    const { conn, socket } = connect(hub);
    hub.identify(conn, { userId: 'app:2:u1' });
    expect(conn.channels).toEqual(['app:2:user:u1']);
    await hub.publish('app:2:user:u1', 'note', 1);
    await tick();
    expect(socket.messages('app:2:user:u1')).toHaveLength(1);
  });
});

describe('exceptConnection', () => {
  it('does not deliver a message to the excluded connection, and delivers it to the others', async () => {
    const hub = await makeHub();
    const a = connect(hub);
    const b = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'room' });
    send(hub, b.conn, { type: 'subscribe', channel: 'room' });
    await hub.publish('room', 'one', 1, { exceptConnection: a.conn.id });
    await hub.publish('room', 'two', 2);
    await tick();
    expect(a.socket.messages('room').map((m) => m.event)).toEqual(['two']);
    expect(b.socket.messages('room').map((m) => m.event)).toEqual(['one', 'two']);
    // the message carries a one-way key of the excluded connection, never its id
    const received = b.socket.messages('room')[0]!;
    expect(received).toMatchObject({ data: 1 });
    expect(JSON.stringify(received)).not.toContain(a.conn.id);
    expect(a.conn.exceptKeys).toContain(received.except);
  });

  it('a publish command marked exceptSender skips its sender', async () => {
    const hub = await makeHub();
    const a = connect(hub);
    const b = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'room' });
    send(hub, b.conn, { type: 'subscribe', channel: 'room' });
    hub.handleCommand(a.conn, { type: 'publish', channel: 'room', event: 'hi', data: {}, exceptSender: true });
    await tick();
    await tick();
    expect(a.socket.messages('room')).toEqual([]);
    expect(b.socket.messages('room')).toHaveLength(1);
    // the sender is marked by its opaque key: no connection id, nor a hash of it, reaches the other subscribers
    const received = b.socket.messages('room')[0]!;
    expect(received.except).toBe(a.conn.exceptKey);
    expect(JSON.stringify(received)).not.toContain(a.conn.id);
    expect(a.conn.exceptKeys).toContain(received.except);
  });

  it('a batch without exclusions is shared as is', () => {
    const batch = new PreparedBatch('c', ['{"type":"message","channel":"c","event":"e"}']).markExceptions();
    expect(batch.except).toBeUndefined();
    expect(batch.forConnection({ exceptKeys: ['x'] })).toBe(batch);
  });
});
