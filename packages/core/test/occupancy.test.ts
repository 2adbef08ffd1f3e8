import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Connection,
  Hub,
  type HubOptions,
  MemoryBroker,
  MemoryBus,
  MemoryPresenceStore,
  OCCUPANCY_KEY_PREFIX,
  type PresenceAddResult,
  type PresenceMember,
  type PresenceRemoveResult,
  type PresenceStore,
  type SubscribeContext,
  channelOfOccupancyKey,
  isValidChannelName,
  occupancyKey,
} from '../src/index';
import { FakeSocket, tick } from './fake-socket';

const hubs: Hub[] = [];
afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
  vi.restoreAllMocks();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every `occupancy` event of the Hubs watched, as `<hub>:<action>:<channel>`. */
function recorder(named: Record<string, Hub>): string[] {
  const seen: string[] = [];
  for (const [name, hub] of Object.entries(named)) {
    hub.on('occupancy', (channel, action) => seen.push(`${name}:${action}:${channel}`));
  }
  return seen;
}

async function hubOn(bus: MemoryBus, options: HubOptions = {}): Promise<Hub> {
  const hub = new Hub({
    broker: new MemoryBroker({ bus }),
    presence: { leaveGraceMs: 0 },
    policy: { authorizeSubscribe: () => true },
    ...options,
  });
  await hub.start();
  hubs.push(hub);
  return hub;
}

function connect(hub: Hub, userId?: string, socket = new FakeSocket()): Connection {
  return hub.addConnection({
    socket,
    transport: 'native',
    ip: '127.0.0.1',
    ...(userId === undefined ? {} : { identity: { userId } }),
  });
}

const send = (hub: Hub, conn: Connection, cmd: object): void => hub.handleText(conn, JSON.stringify(cmd));
const subscribe = (hub: Hub, conn: Connection, channel: string, ref = 1): void =>
  send(hub, conn, { type: 'subscribe', channel, ref });
const unsubscribe = (hub: Hub, conn: Connection, channel: string): void =>
  send(hub, conn, { type: 'unsubscribe', channel });

const ON = { enabled: true, graceMs: 60 };

describe('occupancy keys', () => {
  it('can never be a channel name: "#" is outside the channel alphabet', () => {
    expect(isValidChannelName('#')).toBe(false);
    expect(isValidChannelName(occupancyKey('room'))).toBe(false);
    expect(occupancyKey('app:2:room')).toBe(`${OCCUPANCY_KEY_PREFIX}app:2:room`);
    expect(channelOfOccupancyKey(occupancyKey('app:2:room'))).toBe('app:2:room');
    expect(channelOfOccupancyKey('presence-room')).toBeUndefined();
  });
});

describe('occupancy across two Hubs on one MemoryBus', () => {
  it('is occupied once on the first subscriber of either Hub, vacated once after the last on both and the grace', async () => {
    const bus = new MemoryBus();
    const a = await hubOn(bus, { occupancy: ON });
    const b = await hubOn(bus, { occupancy: ON });
    const seen = recorder({ a, b });
    const onA = connect(a);
    const onB1 = connect(b);
    const onB2 = connect(b);
    subscribe(a, onA, 'room');
    expect(seen).toEqual(['a:occupied:room']);
    subscribe(b, onB1, 'room');
    subscribe(b, onB2, 'room');
    subscribe(b, onB2, 'other', 2);
    expect(seen).toEqual(['a:occupied:room', 'b:occupied:other']);
    expect(bus.presence.count(occupancyKey('room'))).toBe(1); // one member: the nodes
    unsubscribe(a, onA, 'room');
    b.removeConnection(onB1);
    await sleep(120); // past A's grace: B still holds the channel
    expect(seen).toEqual(['a:occupied:room', 'b:occupied:other']);
    b.removeConnection(onB2);
    await sleep(20);
    expect(seen).toEqual(['a:occupied:room', 'b:occupied:other']); // within B's grace
    await sleep(100);
    expect(seen.sort()).toEqual(['a:occupied:room', 'b:occupied:other', 'b:vacated:other', 'b:vacated:room']);
    expect(bus.presence.channelCount).toBe(0);
  });

  it('two Hubs subscribing at once: exactly one occupied', async () => {
    const bus = new MemoryBus();
    const a = await hubOn(bus, { occupancy: ON });
    const b = await hubOn(bus, { occupancy: ON });
    const seen = recorder({ a, b });
    await Promise.all([a, b].map(async (hub) => subscribe(hub, connect(hub), 'both')));
    expect(seen.filter((e) => e.endsWith(':occupied:both'))).toHaveLength(1);
  });

  it('churn within the grace makes no event: the last subscriber of A leaves, one on B arrives in time', async () => {
    const bus = new MemoryBus();
    const a = await hubOn(bus, { occupancy: { enabled: true, graceMs: 200 } });
    const b = await hubOn(bus, { occupancy: { enabled: true, graceMs: 200 } });
    const seen = recorder({ a, b });
    const tab1 = connect(a);
    subscribe(a, tab1, 'room');
    expect(seen).toEqual(['a:occupied:room']);
    seen.length = 0;
    // a reload on the same node, then a move to the other node
    a.removeConnection(tab1);
    await sleep(20);
    const tab2 = connect(a);
    subscribe(a, tab2, 'room');
    a.removeConnection(tab2);
    await sleep(50);
    const tab3 = connect(b);
    subscribe(b, tab3, 'room');
    await sleep(300); // A's grace ran out: A left, B holds the channel
    expect(seen).toEqual([]);
    expect(bus.presence.members(occupancyKey('room'))).toHaveLength(1);
    b.removeConnection(tab3);
    await sleep(300);
    expect(seen).toEqual(['b:vacated:room']);
  });

  it('disabled (the default): no store call, no event', async () => {
    const bus = new MemoryBus();
    const add = vi.spyOn(bus.presence, 'add');
    const remove = vi.spyOn(bus.presence, 'remove');
    const a = await hubOn(bus);
    const b = await hubOn(bus, { occupancy: { graceMs: 0 } });
    const seen = recorder({ a, b });
    for (const hub of [a, b]) {
      const conn = connect(hub, 'u1');
      subscribe(hub, conn, 'room');
      unsubscribe(hub, conn, 'room');
      hub.removeConnection(conn);
    }
    await sleep(10);
    expect(add).not.toHaveBeenCalled();
    expect(remove).not.toHaveBeenCalled();
    expect(seen).toEqual([]);
    expect(a.occupancyOptions).toEqual({ enabled: false, graceMs: 0 });
  });

  it('trackOccupancy() at run time records the channels already held, once', async () => {
    const bus = new MemoryBus();
    const a = await hubOn(bus);
    const b = await hubOn(bus, { occupancy: ON });
    const seen = recorder({ a, b });
    subscribe(a, connect(a), 'early');
    subscribe(a, connect(a), 'shared');
    subscribe(b, connect(b), 'shared');
    expect(seen).toEqual(['b:occupied:shared']);
    a.trackOccupancy();
    a.trackOccupancy();
    expect(a.occupancyOptions.enabled).toBe(true);
    expect(seen).toEqual(['b:occupied:shared', 'a:occupied:early']);
    subscribe(a, connect(a), 'later');
    expect(seen).toEqual(['b:occupied:shared', 'a:occupied:early', 'a:occupied:later']);
    expect(bus.presence.count(occupancyKey('shared'))).toBe(1);
    expect(bus.presence.members(occupancyKey('shared'))).toHaveLength(1);
  });

  it('close() applies the removals waiting out their grace at once, and removes the channels still held', async () => {
    const bus = new MemoryBus();
    const a = await hubOn(bus, { occupancy: { enabled: true, graceMs: 60_000 } });
    const seen = recorder({ a });
    const one = connect(a);
    subscribe(a, one, 'left-already');
    unsubscribe(a, one, 'left-already');
    subscribe(a, connect(a), 'still-held');
    expect(seen).toEqual(['a:occupied:left-already', 'a:occupied:still-held']);
    a.close();
    expect(seen.sort()).toEqual([
      'a:occupied:left-already',
      'a:occupied:still-held',
      'a:vacated:left-already',
      'a:vacated:still-held',
    ]);
    expect(bus.presence.channelCount).toBe(0);
    a.trackOccupancy(); // closed: nothing to do
  });

  it('never tracks the "*" channel', async () => {
    const bus = new MemoryBus();
    const add = vi.spyOn(bus.presence, 'add');
    const a = await hubOn(bus, { occupancy: ON });
    const seen = recorder({ a });
    const conn = connect(a);
    await a.publish('*', 'hello', {});
    await tick();
    expect(conn.socket instanceof FakeSocket && (conn.socket as FakeSocket).messages('*')).toHaveLength(1);
    expect(add).not.toHaveBeenCalled();
    expect(seen).toEqual([]);
    a.trackOccupancy();
    expect(add).not.toHaveBeenCalled();
    expect(bus.presence.count(occupancyKey('*'))).toBe(0);
  });

  it('tracks personal channels too (the service filters by kind)', async () => {
    const bus = new MemoryBus();
    const a = await hubOn(bus, { occupancy: { enabled: true, graceMs: 0 } });
    const seen = recorder({ a });
    const conn = connect(a, 'u1');
    expect(seen).toEqual(['a:occupied:user:u1']);
    a.removeConnection(conn);
    await tick();
    expect(seen).toEqual(['a:occupied:user:u1', 'a:vacated:user:u1']);
  });
});

describe('occupancy from the store', () => {
  it("routes the broker's presence events of occupancy keys to `occupancy`, never to clients nor `presence`", async () => {
    const bus = new MemoryBus();
    const a = await hubOn(bus);
    const b = await hubOn(bus);
    const watchers = [a, b].map((hub) => {
      const socket = new FakeSocket();
      const conn = connect(hub, `w-${hub.nodeId}`, socket);
      subscribe(hub, conn, 'presence-room');
      return socket;
    });
    await tick();
    const seen = recorder({ a, b });
    const presence: string[] = [];
    a.on('presence', (channel, action, member) => presence.push(`${action}:${member.userId}:${channel}`));
    // a dead node's channel swept by A (A tracks nothing itself: the sweep is reported all the same)
    a.broker.emit('presence', occupancyKey('presence-room'), 'leave', { userId: '#nodes' });
    a.broker.emit('presence', occupancyKey('room'), 'join', { userId: '#nodes' });
    await tick();
    expect(seen).toEqual(['a:vacated:presence-room', 'a:occupied:room']);
    expect(presence).toEqual([]);
    for (const socket of watchers) {
      expect(socket.of('presence').filter((f) => String(f.channel).startsWith('#'))).toEqual([]);
      expect(socket.of('presence').filter((f) => f.action === 'leave')).toEqual([]);
    }
    // a plain presence change still reaches clients and `presence`
    a.broker.emit('presence', 'presence-room', 'leave', { userId: 'gone' });
    await tick();
    expect(presence).toEqual(['leave:gone:presence-room']);
    expect(await a.presenceMembers(occupancyKey('presence-room'))).toEqual([]);
  });

  it('reports a failing store as `error` and retries the add until it is recorded', async () => {
    const bus = new MemoryBus();
    const store = bus.presence;
    const real = store.add.bind(store);
    let failures = 1;
    vi.spyOn(store, 'add').mockImplementation((channel, connectionId, member) => {
      if (channel.startsWith(OCCUPANCY_KEY_PREFIX) && failures-- > 0) throw new Error('store away');
      return real(channel, connectionId, member);
    });
    const a = await hubOn(bus, { occupancy: ON });
    const seen = recorder({ a });
    const errors: string[] = [];
    a.on('error', (error) => errors.push(error.message));
    subscribe(a, connect(a), 'room');
    expect(seen).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /occupancy: recording that this node has subscribers of "room" failed \(retrying in 500 ms\): store away/,
    );
    await sleep(700);
    expect(seen).toEqual(['a:occupied:room']);
  });
});

/** A presence store answering after a delay, like Redis: to see what happens while a call is in flight. */
class SlowPresenceStore implements PresenceStore {
  readonly inner = new MemoryPresenceStore();
  constructor(readonly delayMs: number) {}
  async #later<T>(value: () => T): Promise<T> {
    await sleep(this.delayMs);
    return value();
  }
  add(channel: string, connectionId: string, member: PresenceMember): Promise<PresenceAddResult> {
    return this.#later(() => this.inner.add(channel, connectionId, member));
  }
  remove(channel: string, connectionId: string, userId: string): Promise<PresenceRemoveResult> {
    return this.#later(() => this.inner.remove(channel, connectionId, userId));
  }
  members(channel: string): Promise<PresenceMember[]> {
    return this.#later(() => this.inner.members(channel));
  }
  count(channel: string): Promise<number> {
    return this.#later(() => this.inner.count(channel));
  }
}

class SlowBroker extends MemoryBroker {
  constructor(
    readonly store: SlowPresenceStore,
    bus: MemoryBus,
  ) {
    super({ bus });
  }
  // typed as the memory store only to satisfy MemoryBroker's getter: the Hub sees a PresenceStore
  override get presence(): MemoryPresenceStore {
    return this.store as unknown as MemoryPresenceStore;
  }
}

describe('with a store that answers later (as Redis does)', () => {
  it('keeps store calls in order per channel: subscribe/unsubscribe churn ends with nothing held and paired events', async () => {
    const bus = new MemoryBus();
    const store = new SlowPresenceStore(15);
    const hub = new Hub({ broker: new SlowBroker(store, bus), occupancy: { enabled: true, graceMs: 0 } });
    await hub.start();
    hubs.push(hub);
    const seen = recorder({ a: hub });
    const conn = connect(hub);
    for (let i = 0; i < 5; i++) {
      subscribe(hub, conn, 'room', i);
      unsubscribe(hub, conn, 'room');
    }
    await sleep(400);
    expect(store.inner.channelCount).toBe(0);
    expect(seen.length % 2).toBe(0);
    for (let i = 0; i < seen.length; i += 2)
      expect(seen.slice(i, i + 2)).toEqual(['a:occupied:room', 'a:vacated:room']);
  });

  it('a presence subscription that ends while its join is in flight: its join and its leave are both announced, once', async () => {
    const bus = new MemoryBus();
    const store = new SlowPresenceStore(20);
    const hub = new Hub({
      broker: new SlowBroker(store, bus),
      presence: { leaveGraceMs: 0 },
      policy: { authorizeSubscribe: () => true },
    });
    await hub.start();
    hubs.push(hub);
    const presence: string[] = [];
    hub.on('presence', (_channel, action, member) => presence.push(`${action}:${member.userId}`));
    const tab = connect(hub, 'u1');
    subscribe(hub, tab, 'presence-room');
    await sleep(30); // count() answered, add() in flight
    unsubscribe(hub, tab, 'presence-room');
    await sleep(150);
    expect(presence).toEqual(['join:u1', 'leave:u1']);
    expect(store.inner.channelCount).toBe(0);
  });
});

describe('presence events across two Hubs', () => {
  it('a user with tabs on both Hubs joins once and leaves once, cluster-wide', async () => {
    const bus = new MemoryBus();
    const a = await hubOn(bus);
    const b = await hubOn(bus);
    const presence: string[] = [];
    for (const [name, hub] of [
      ['a', a],
      ['b', b],
    ] as const) {
      hub.on('presence', (_channel, action, member) => presence.push(`${name}:${action}:${member.userId}`));
    }
    const tab1 = connect(a, 'u1');
    const tab2 = connect(b, 'u1');
    subscribe(a, tab1, 'presence-room');
    subscribe(b, tab2, 'presence-room');
    a.removeConnection(tab1);
    await tick();
    expect(presence).toEqual(['a:join:u1']);
    b.removeConnection(tab2);
    await tick();
    expect(presence).toEqual(['a:join:u1', 'b:leave:u1']);
  });
});

describe('Hub option occupancy', () => {
  it('refuses bad values with a TypeError that says what to change', () => {
    expect(() => new Hub({ occupancy: { graceMs: -1 } })).toThrow(/occupancy.graceMs must be an integer >= 0/);
    expect(() => new Hub({ occupancy: { graceMs: 1.5 } })).toThrow(/occupancy.graceMs/);
    expect(() => new Hub({ occupancy: { enabled: 'yes' as unknown as boolean } })).toThrow(
      /occupancy.enabled must be true or false/,
    );
    expect(() => new Hub({ occupancy: { grace: 5 } as never })).toThrow(
      /unknown option occupancy.grace; known options/,
    );
    expect(() => new Hub({ occupancy: 3 as never })).toThrow(/occupancy must be an object/);
  });

  it('defaults the grace to presence.leaveGraceMs', () => {
    expect(new Hub().occupancyOptions).toEqual({ enabled: false, graceMs: 3000 });
    expect(new Hub({ presence: { leaveGraceMs: 700 }, occupancy: { enabled: true } }).occupancyOptions).toEqual({
      enabled: true,
      graceMs: 700,
    });
  });
});

describe('cacheMiss', () => {
  it('reportCacheMiss emits `cacheMiss` with the connection and the channel', async () => {
    const a = await hubOn(new MemoryBus());
    const conn = connect(a);
    const seen: [Connection, string][] = [];
    a.on('cacheMiss', (c, channel) => seen.push([c, channel]));
    a.reportCacheMiss(conn, 'app:2:cache-prices');
    expect(seen).toEqual([[conn, 'app:2:cache-prices']]);
  });
});

describe('policy.authorizeReserved', () => {
  const reservedFor =
    (admin: string) =>
    (conn: Connection, channel: string): boolean | undefined =>
      channel.startsWith('sys.') ? conn.userId === admin : undefined;

  it('refuses a reserved channel with FORBIDDEN before any other authorization, and permits whom it names', async () => {
    const authorizeSubscribe = vi.fn(() => true);
    const a = await hubOn(new MemoryBus(), { policy: { authorizeSubscribe, authorizeReserved: reservedFor('admin') } });
    const guestSocket = new FakeSocket();
    const guest = connect(a, 'guest', guestSocket);
    subscribe(a, guest, 'sys.dlq', 7);
    await tick();
    expect(guestSocket.last()).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
      ref: 7,
      channel: 'sys.dlq',
      message: expect.stringMatching(/"sys.dlq" is a reserved channel and this connection is not permitted/),
    });
    expect(guest.isSubscribed('sys.dlq')).toBe(false);
    expect(authorizeSubscribe).not.toHaveBeenCalled();
    const adminSocket = new FakeSocket();
    const admin = connect(a, 'admin', adminSocket);
    subscribe(a, admin, 'sys.dlq', 8);
    await tick();
    expect(adminSocket.last()).toMatchObject({ type: 'ack', ref: 8, channel: 'sys.dlq' });
    expect(authorizeSubscribe).not.toHaveBeenCalled();
    // not reserved: decided as before
    subscribe(a, guest, 'news', 9);
    await tick();
    expect(guestSocket.last()).toMatchObject({ type: 'ack', ref: 9, channel: 'news' });
    expect(authorizeSubscribe).toHaveBeenCalledTimes(1);
  });

  it('guards sockets that authorize themselves (a Pusher socket) too, and may answer later', async () => {
    const a = await hubOn(new MemoryBus(), {
      policy: {
        authorizeReserved: (conn, channel) =>
          channel.startsWith('sys.') ? sleep(5).then(() => conn.userId === 'admin') : undefined,
      },
    });
    class SelfAuthorizing extends FakeSocket {
      asked: string[] = [];
      authorizeSubscribe(channel: string, _context: SubscribeContext): boolean {
        this.asked.push(channel);
        return true;
      }
    }
    const socket = new SelfAuthorizing();
    const conn = connect(a, 'guest', socket);
    subscribe(a, conn, 'sys.webhook', 1);
    subscribe(a, conn, 'prices', 2);
    await sleep(20);
    expect(socket.of('error')).toMatchObject([{ code: 'FORBIDDEN', ref: 1, channel: 'sys.webhook' }]);
    expect(socket.of('ack')).toMatchObject([{ ref: 2, channel: 'prices' }]);
    expect(socket.asked).toEqual(['prices']);
    const adminSocket = new SelfAuthorizing();
    subscribe(a, connect(a, 'admin', adminSocket), 'sys.webhook', 3);
    await sleep(20);
    expect(adminSocket.of('ack')).toMatchObject([{ ref: 3, channel: 'sys.webhook' }]);
    expect(adminSocket.asked).toEqual([]);
  });
});
