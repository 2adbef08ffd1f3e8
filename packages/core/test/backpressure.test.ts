import { afterEach, describe, expect, it } from 'vitest';
import { compilePattern, Hub, type Connection, type HubOptions } from '../src/index';
import { FakeSocket, tick } from './fake-socket';

/** A socket whose buffer the test fills and drains, with the optional drain signal. */
class DrainableSocket extends FakeSocket {
  #drain: (() => void) | undefined;
  drainListeners = 0;

  onDrain(listener: () => void): void {
    this.drainListeners++;
    this.#drain = listener;
  }

  drain(): void {
    this.bufferedBytes = 0;
    this.#drain?.();
  }
}

const hubs: Hub[] = [];
async function makeHub(options: HubOptions = {}): Promise<Hub> {
  const hub = new Hub(options);
  await hub.start();
  hubs.push(hub);
  return hub;
}
function connect(hub: Hub, socket = new DrainableSocket()): { conn: Connection; socket: DrainableSocket } {
  const conn = hub.addConnection({ socket, transport: 'native', ip: '127.0.0.1' });
  return { conn, socket };
}
const send = (hub: Hub, conn: Connection, cmd: object): void => hub.handleText(conn, JSON.stringify(cmd));

afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
});

const LIMITS = { maxBufferedBytes: 4096 };

describe('backpressure policies', () => {
  it('disconnect (default): closes a connection over maxBufferedBytes with 4008', async () => {
    const hub = await makeHub({
      limits: LIMITS,
      backpressure: { policies: [{ pattern: 'ticks.*', policy: 'drop-oldest' }] },
    });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'news' });
    a.socket.bufferedBytes = 5000;
    hub.publish('news', 'e', 1);
    await tick();
    expect(a.socket.closedWith?.code).toBe(4008);
    expect(hub.stats.slowConsumers).toBe(1);
    expect(hub.backlogStats().connections).toBe(0);
  });

  it('drop-oldest: holds batches while backed up, drops the oldest past the bound, delivers the newest on drain', async () => {
    const hub = await makeHub({
      limits: LIMITS,
      backpressure: { policies: [{ pattern: 'ticks.*', policy: 'drop-oldest' }], lowWaterBytes: 1000 },
    });
    const slow = connect(hub);
    const fast = connect(hub);
    for (const c of [slow, fast]) send(hub, c.conn, { type: 'subscribe', channel: 'ticks.eur' });
    slow.socket.bufferedBytes = 2000; // over the low-water mark, under the bound
    const payload = 'x'.repeat(300);
    for (let i = 1; i <= 40; i++) {
      hub.publish('ticks.eur', 'tick', { i, payload });
      await tick(); // one batch per message
    }
    expect(fast.socket.messages()).toHaveLength(40);
    expect(slow.socket.messages()).toHaveLength(0);
    expect(slow.conn.closed).toBe(false);
    // the backlog and the socket together stay within maxBufferedBytes
    expect(slow.conn.bufferedBytes).toBeLessThanOrEqual(LIMITS.maxBufferedBytes);
    const dropped = hub.stats.drops['drop-oldest'];
    expect(dropped).toBeGreaterThan(30);
    expect(hub.backlogStats().connections).toBe(1);
    slow.socket.drain();
    const got = slow.socket.messages().map((m) => (m.data as { i: number }).i);
    expect(got.length).toBe(40 - dropped);
    expect(got[got.length - 1]).toBe(40); // the newest is delivered
    expect(got).toEqual([...got].sort((x, y) => x - y)); // in order
    expect(slow.socket.drainListeners).toBe(1);
    expect(hub.backlogStats()).toEqual({ connections: 0, bytes: 0 });
    // caught up: writes go straight to the socket again
    hub.publish('ticks.eur', 'tick', { i: 41, payload });
    await tick();
    expect(slow.socket.messages().at(-1)).toMatchObject({ data: { i: 41 } });
  });

  it('drop-oldest keeps the newest batch even when it alone is larger than the bound', async () => {
    const hub = await makeHub({ limits: LIMITS, backpressure: { default: 'drop-oldest', lowWaterBytes: 100 } });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'v' });
    a.socket.bufferedBytes = 200;
    hub.publish('v', 'e', 'a'.repeat(10_000));
    hub.publish('v', 'e', 'b'.repeat(10_000));
    await tick();
    hub.publish('v', 'e', 'c'.repeat(10_000));
    await tick();
    expect(hub.stats.drops['drop-oldest']).toBe(2);
    a.socket.drain();
    expect(a.socket.messages().map((m) => (m.data as string)[0])).toEqual(['c']);
  });

  it('coalesce-latest by event: only the newest state per event is sent when the connection drains', async () => {
    const hub = await makeHub({
      limits: LIMITS,
      backpressure: {
        policies: [{ pattern: 'prices.*', policy: 'coalesce-latest', key: 'event' }],
        lowWaterBytes: 500,
      },
    });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'prices.fx' });
    a.socket.bufferedBytes = 1000;
    for (let i = 1; i <= 30; i++) {
      hub.publish('prices.fx', i % 3 === 0 ? 'EUR"USD' : i % 3 === 1 ? 'GBPUSD' : 'USDJPY', { i });
      if (i % 7 === 0) await tick();
    }
    await tick();
    expect(a.socket.messages()).toHaveLength(0);
    expect(hub.stats.drops['coalesce-latest']).toBe(27);
    a.socket.drain();
    const got = a.socket.messages();
    expect(got.map((m) => [m.event, (m.data as { i: number }).i])).toEqual([
      ['GBPUSD', 28],
      ['USDJPY', 29],
      ['EUR"USD', 30],
    ]);
    expect(got.map((m) => m.offset)).toEqual([28, 29, 30]);
  });

  it('coalesce-latest with a key function of the data, and per channel by default', async () => {
    const hub = await makeHub({
      limits: LIMITS,
      backpressure: {
        policies: [
          { pattern: 'scores', policy: 'coalesce-latest' },
          { pattern: 'pos.*', policy: 'coalesce-latest', key: (m) => (m.data as { id: string }).id },
        ],
        lowWaterBytes: 500,
      },
    });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'scores' });
    send(hub, a.conn, { type: 'subscribe', channel: 'pos.cars' });
    a.socket.bufferedBytes = 1000;
    for (let i = 1; i <= 10; i++) {
      hub.publish('scores', 'score', { i });
      hub.publish('pos.cars', 'move', { id: `car${i % 2}`, i });
    }
    await tick();
    a.socket.drain();
    expect(a.socket.messages('scores').map((m) => m.data)).toEqual([{ i: 10 }]);
    expect(a.socket.messages('pos.cars').map((m) => m.data)).toEqual([
      { id: 'car1', i: 9 },
      { id: 'car0', i: 10 },
    ]);
  });

  it('coalesce-latest closes with 4008 when the kept states alone pass the bound', async () => {
    const hub = await makeHub({
      limits: LIMITS,
      backpressure: {
        default: 'coalesce-latest',
        policies: [{ pattern: 'many', policy: 'coalesce-latest', key: (m) => (m.data as { k: number }).k }],
      },
    });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'many' });
    a.socket.bufferedBytes = 2000;
    for (let k = 0; k < 100; k++) hub.publish('many', 'e', { k, pad: 'p'.repeat(50) });
    await tick();
    expect(a.socket.closedWith?.code).toBe(4008);
    expect(hub.backlogStats().connections).toBe(0);
  });

  it('drains without a drain signal by polling backed-up connections', async () => {
    const hub = await makeHub({
      limits: LIMITS,
      backpressure: { default: 'coalesce-latest', drainCheckMs: 10, lowWaterBytes: 100 },
    });
    const socket = new FakeSocket(); // no onDrain
    const conn = hub.addConnection({ socket, transport: 'native', ip: '127.0.0.1' });
    send(hub, conn, { type: 'subscribe', channel: 'state' });
    socket.bufferedBytes = 1000;
    for (let i = 0; i < 5; i++) hub.publish('state', 'e', i);
    await tick();
    socket.bufferedBytes = 0;
    await new Promise((r) => setTimeout(r, 40));
    expect(socket.messages().map((m) => m.data)).toEqual([4]);
  });

  it('forgets what a connection held for a channel it leaves', async () => {
    const hub = await makeHub({ limits: LIMITS, backpressure: { default: 'drop-oldest', lowWaterBytes: 100 } });
    const a = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'v' });
    a.socket.bufferedBytes = 500;
    hub.publish('v', 'e', 1);
    await tick();
    expect(hub.backlogStats().connections).toBe(1);
    send(hub, a.conn, { type: 'unsubscribe', channel: 'v' });
    expect(hub.backlogStats()).toEqual({ connections: 0, bytes: 0 });
    a.socket.drain();
    expect(a.socket.messages()).toHaveLength(0);
  });

  it('sheds drop-oldest channels while shedding is on, counting every line not delivered', async () => {
    const hub = await makeHub({ backpressure: { policies: [{ pattern: 'cursor.*', policy: 'drop-oldest' }] } });
    const a = connect(hub);
    const b = connect(hub);
    for (const c of [a, b]) {
      send(hub, c.conn, { type: 'subscribe', channel: 'cursor.1' });
      send(hub, c.conn, { type: 'subscribe', channel: 'news' });
    }
    hub.shedding = true;
    for (let i = 0; i < 3; i++) hub.publish('cursor.1', 'move', i);
    hub.publish('news', 'e', 'kept');
    await tick();
    expect(a.socket.messages('cursor.1')).toHaveLength(0);
    expect(a.socket.messages('news')).toHaveLength(1);
    expect(hub.stats.drops.shed).toBe(6);
    hub.shedding = false;
    hub.publish('cursor.1', 'move', 3);
    await tick();
    expect(a.socket.messages('cursor.1')).toHaveLength(1);
  });

  it('refuses new connections with 4503 while told to, and accepts them again', async () => {
    const hub = await makeHub();
    hub.refuseConnections('memory critical');
    expect(() => connect(hub)).toThrow(
      expect.objectContaining({ code: 'UNAVAILABLE', closeCode: 4503, httpStatus: 503 }),
    );
    expect(hub.stats.refusedConnections).toBe(1);
    hub.refuseConnections(undefined);
    expect(connect(hub).conn.closed).toBe(false);
  });

  it('disconnects the heaviest connections with 4503 until the total held is under a bound', async () => {
    const hub = await makeHub();
    const conns = [100, 5000, 300, 8000, 0].map((bytes) => {
      const c = connect(hub);
      c.socket.bufferedBytes = bytes;
      return c;
    });
    expect(hub.disconnectHeaviest(1000)).toBe(2);
    expect(conns.map((c) => c.socket.closedWith?.code)).toEqual([undefined, 4503, undefined, 4503, undefined]);
    expect(hub.stats.overloadDisconnects).toBe(2);
    expect(hub.disconnectHeaviest(1000)).toBe(0);
  });

  it('changes limits at run time and validates them', async () => {
    const hub = await makeHub({ backpressure: { lowWaterBytes: 2000 } });
    hub.setLimits({ maxRecoveryBuffer: 10 });
    expect(hub.limits.maxRecoveryBuffer).toBe(10);
    expect(() => hub.setLimits({ maxBufferedBytes: 1500 })).toThrow(/lowWaterBytes/);
    expect(() => hub.setLimits({ maxRecoveryBuffer: 0 })).toThrow(/limits.maxRecoveryBuffer/);
  });

  it('rejects bad backpressure options with a TypeError that says what to change', () => {
    expect(() => new Hub({ backpressure: { default: 'drop-newest' as 'drop-oldest' } })).toThrow(
      /backpressure.default must be one of/,
    );
    expect(() => new Hub({ backpressure: { policies: [{ pattern: 'a b', policy: 'drop-oldest' }] } })).toThrow(
      /backpressure.policies\[0\].pattern/,
    );
    expect(
      () => new Hub({ backpressure: { policies: [{ pattern: 'a', policy: 'drop-oldest', key: 'event' }] } }),
    ).toThrow(/only applies to policy 'coalesce-latest'/);
    expect(
      () =>
        new Hub({ backpressure: { policies: [{ pattern: 'a', policy: 'coalesce-latest', key: 'data' as 'event' }] } }),
    ).toThrow(/key must be 'channel', 'event' or a function/);
    expect(() => new Hub({ limits: { maxBufferedBytes: 4096 }, backpressure: { lowWaterBytes: 4096 } })).toThrow(
      /below limits.maxBufferedBytes/,
    );
    expect(() => new Hub({ backpressure: { lowwater: 1 } as never })).toThrow(/unknown option backpressure.lowwater/);
  });
});

describe('compilePattern', () => {
  it('matches names with * wildcards and kind keywords', () => {
    expect(compilePattern('prices.*')('prices.eur')).toBe(true);
    expect(compilePattern('prices.*')('prices')).toBe(false);
    expect(compilePattern('a.*.c')('a.b.c')).toBe(true);
    expect(compilePattern('presence')('presence-room')).toBe(true);
    expect(compilePattern('exact')('exact')).toBe(true);
    expect(() => compilePattern('no spaces')).toThrow(TypeError);
  });
});
