import { afterEach, describe, expect, it, vi } from 'vitest';
import { HistoryReads } from '../src/hub/history-reads';
import { RecoveryBudget, resolveRecoveryOptions } from '../src/hub/recovery-budget';
import {
  type Connection,
  type HistoryRead,
  type HistoryStore,
  Hub,
  type HubOptions,
  MemoryBroker,
  type StreamPosition,
} from '../src/index';
import { FakeSocket, tick } from './fake-socket';

/** A history store whose reads answer only when the test says so. */
class SlowHistory implements HistoryStore {
  readonly calls: {
    channel: string;
    after: StreamPosition;
    resolve: (read: HistoryRead) => void;
    reject: (e: unknown) => void;
  }[] = [];
  position(): StreamPosition {
    return { epoch: 'e', offset: 0 };
  }
  read(channel: string, after: StreamPosition): Promise<HistoryRead> {
    return new Promise((resolve, reject) => this.calls.push({ channel, after, resolve, reject }));
  }
}

const msg = (offset: number) => ({
  channel: 'c',
  epoch: 'e',
  offset,
  id: `m${offset}`,
  ts: 0,
  line: `{"o":${offset}}`,
});
const answer = (from: number, top: number, epoch = 'e'): HistoryRead => ({
  position: { epoch, offset: top },
  messages: Array.from({ length: Math.max(0, top - from) }, (_, i) => msg(from + 1 + i)),
  complete: true,
});

describe('HistoryReads (merging identical history reads)', () => {
  it('answers many requests of one channel with one read, sliced per position', async () => {
    const store = new SlowHistory();
    const reads = new HistoryReads(() => store);
    const got: Record<number, number[]> = {};
    reads.read(
      'c',
      { epoch: 'e', offset: 5 },
      10,
      (r) => (got[5] = r.messages.map((m) => m.offset)),
      () => {},
    );
    // joins the read on its way (same epoch, at or past its position) and the channel flushed no further
    reads.read(
      'c',
      { epoch: 'e', offset: 8 },
      10,
      (r) => (got[8] = r.messages.map((m) => m.offset)),
      () => {},
    );
    reads.read(
      'c',
      { epoch: 'e', offset: 10 },
      10,
      (r) => (got[10] = r.messages.map((m) => m.offset)),
      () => {},
    );
    expect(store.calls).toHaveLength(1);
    store.calls[0]!.resolve(answer(5, 10));
    await tick();
    expect(got).toEqual({ 5: [6, 7, 8, 9, 10], 8: [9, 10], 10: [] });
    expect(reads.stats).toEqual({ requests: 3, reads: 1, merged: 2 });
    expect(reads.inFlight).toBe(0);
  });

  it('gathers lower positions for the next read, from the lowest of them', async () => {
    const store = new SlowHistory();
    const reads = new HistoryReads(() => store);
    const got: Record<number, number[]> = {};
    const take = (o: number) => (r: HistoryRead) => (got[o] = r.messages.map((m) => m.offset));
    reads.read('c', { epoch: 'e', offset: 8 }, 10, take(8), () => {});
    reads.read('c', { epoch: 'e', offset: 3 }, 10, take(3), () => {});
    reads.read('c', { epoch: 'e', offset: 6 }, 10, take(6), () => {});
    expect(store.calls.map((c) => c.after.offset)).toEqual([8]);
    store.calls[0]!.resolve(answer(8, 10));
    await tick();
    expect(store.calls.map((c) => c.after.offset)).toEqual([8, 3]);
    store.calls[1]!.resolve(answer(3, 10));
    await tick();
    expect(got).toEqual({ 8: [9, 10], 3: [4, 5, 6, 7, 8, 9, 10], 6: [7, 8, 9, 10] });
    expect(reads.stats.reads).toBe(2);
    expect(reads.stats.merged).toBe(1);
  });

  it('sends a late joiner the read does not cover (the channel flushed past it) to the next read: no gap at the seam', async () => {
    const store = new SlowHistory();
    const reads = new HistoryReads(() => store);
    const got: Record<number, number[]> = {};
    reads.read(
      'c',
      { epoch: 'e', offset: 5 },
      10,
      (r) => (got[5] = r.messages.map((m) => m.offset)),
      () => {},
    );
    // joined after the channel flushed 12: a read that saw only up to 10 would leave 11 and 12 out
    reads.read(
      'c',
      { epoch: 'e', offset: 7 },
      12,
      (r) => (got[7] = r.messages.map((m) => m.offset)),
      () => {},
    );
    store.calls[0]!.resolve(answer(5, 10));
    await tick();
    expect(got[5]).toEqual([6, 7, 8, 9, 10]);
    expect(got[7]).toBeUndefined();
    expect(store.calls[1]!.after).toEqual({ epoch: 'e', offset: 7 });
    store.calls[1]!.resolve(answer(7, 12));
    await tick();
    expect(got[7]).toEqual([8, 9, 10, 11, 12]);
  });

  it('keeps epochs apart, reads alone when the shared answer is incomplete, and fails every waiter of a failed read', async () => {
    const store = new SlowHistory();
    const reads = new HistoryReads(() => store);
    const got: Record<string, HistoryRead> = {};
    reads.read(
      'c',
      { epoch: 'e', offset: 2 },
      4,
      (r) => (got.a = r),
      () => {},
    );
    reads.read(
      'c',
      { epoch: 'old', offset: 3 },
      4,
      (r) => (got.old = r),
      () => {},
    );
    reads.read(
      'c',
      { epoch: 'e', offset: 3 },
      4,
      (r) => (got.b = r),
      () => {},
    );
    expect(store.calls).toHaveLength(1);
    // history evicted up to 2: incomplete for offset 2; offset 3 needs a read of its own to know
    store.calls[0]!.resolve({
      position: { epoch: 'e', offset: 6 },
      messages: [msg(4), msg(5), msg(6)],
      complete: false,
    });
    await tick();
    expect(got.a!.complete).toBe(false);
    // the late joiner at 3 reads next (the shared answer cannot tell about it); the other epoch's read comes after
    expect(store.calls.map((c) => c.after)).toEqual([
      { epoch: 'e', offset: 2 },
      { epoch: 'e', offset: 3 },
    ]);
    store.calls[1]!.resolve(answer(3, 6));
    await tick();
    expect(store.calls[2]!.after).toEqual({ epoch: 'old', offset: 3 });
    store.calls[2]!.resolve({ position: { epoch: 'e', offset: 6 }, messages: [], complete: false });
    await tick();
    expect(got.b!.complete).toBe(true);
    expect(got.old!.complete).toBe(false);

    const errors: unknown[] = [];
    reads.read(
      'd',
      { epoch: 'e', offset: 1 },
      1,
      () => {},
      (e) => errors.push(e),
    );
    reads.read(
      'd',
      { epoch: 'e', offset: 1 },
      1,
      () => {},
      (e) => errors.push(e),
    );
    await tick(); // the store answered asynchronously before: the requests of a turn gather for one read
    expect(store.calls).toHaveLength(4);
    store.calls[3]!.reject(new Error('down'));
    await tick();
    expect(errors).toHaveLength(2);
    expect(reads.inFlight).toBe(0);
  });

  it('once the store is known to answer asynchronously, gathers the requests of one event-loop turn for one read', async () => {
    const store = new SlowHistory();
    const reads = new HistoryReads(() => store);
    reads.read(
      'c',
      { epoch: 'e', offset: 9 },
      9,
      () => {},
      () => {},
    );
    store.calls[0]!.resolve(answer(9, 9));
    await tick();
    const got: Record<number, number[]> = {};
    for (const o of [8, 4, 6]) {
      reads.read(
        'c',
        { epoch: 'e', offset: o },
        9,
        (r) => (got[o] = r.messages.map((m) => m.offset)),
        () => {},
      );
    }
    expect(store.calls).toHaveLength(1);
    await tick();
    expect(store.calls.map((c) => c.after)).toEqual([
      { epoch: 'e', offset: 9 },
      { epoch: 'e', offset: 4 },
    ]);
    store.calls[1]!.resolve(answer(4, 9));
    await tick();
    expect(got).toEqual({ 8: [9], 4: [5, 6, 7, 8, 9], 6: [7, 8, 9] });
    expect(reads.stats).toEqual({ requests: 4, reads: 2, merged: 2 });
    expect(reads.inFlight).toBe(0);
  });

  it("answers from a channel's last answer within a second when it covers what the channel flushed", async () => {
    const store = new SlowHistory();
    const reads = new HistoryReads(() => store);
    reads.read(
      'c',
      { epoch: 'e', offset: 5 },
      8,
      () => {},
      () => {},
    );
    store.calls[0]!.resolve(answer(5, 8));
    await tick();
    let got: number[] | undefined;
    // covered (the channel flushed 8, the answer holds up to 8): answered at once, no read
    reads.read(
      'c',
      { epoch: 'e', offset: 6 },
      8,
      (r) => (got = r.messages.map((m) => m.offset)),
      () => {},
    );
    expect(got).toEqual([7, 8]);
    expect(store.calls).toHaveLength(1);
    // the channel flushed past it, or an older position: a read
    reads.read(
      'c',
      { epoch: 'e', offset: 6 },
      9,
      () => {},
      () => {},
    );
    reads.read(
      'c',
      { epoch: 'e', offset: 4 },
      8,
      () => {},
      () => {},
    );
    await tick();
    expect(store.calls.map((c) => c.after.offset)).toEqual([5, 4]);
    expect(reads.stats).toMatchObject({ requests: 4, reads: 2, merged: 1 });
    vi.useFakeTimers({ now: Date.now() + 1_001, toFake: ['Date'] });
    try {
      got = undefined;
      reads.read(
        'c',
        { epoch: 'e', offset: 6 },
        8,
        (r) => (got = r.messages.map((m) => m.offset)),
        () => {},
      );
      expect(got).toBeUndefined(); // kept for a second only
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers synchronously from a synchronous store (nothing is merged, nothing waits)', () => {
    const broker = new MemoryBroker();
    const reads = new HistoryReads(() => broker.history);
    let answered = 0;
    reads.read(
      'c',
      { epoch: 'x', offset: 0 },
      0,
      () => answered++,
      () => {},
    );
    reads.read(
      'c',
      { epoch: 'x', offset: 0 },
      0,
      () => answered++,
      () => {},
    );
    expect(answered).toBe(2);
    expect(reads.stats.reads).toBe(2);
  });
});

describe('RecoveryBudget', () => {
  it('runs at most maxConcurrent, queues the rest in order, drops cancelled ones and refuses past maxQueued', () => {
    const closed = new Set<string>();
    const budget = new RecoveryBudget<string>({ maxConcurrent: 2, maxQueued: 3 }, (k) => !closed.has(k));
    const ran: string[] = [];
    for (const k of ['a', 'b', 'c', 'd', 'e']) expect(budget.run(k, () => ran.push(k))).toBe(true);
    expect(budget.run('f', () => ran.push('f'))).toBe(false);
    expect(ran).toEqual(['a', 'b']);
    expect(budget.stats).toMatchObject({ active: 2, queued: 3, queuedPeak: 3, waited: 3, refused: 1 });
    budget.cancel('c');
    closed.add('d');
    budget.release();
    expect(ran).toEqual(['a', 'b', 'e']);
    budget.release();
    budget.release();
    expect(budget.stats).toMatchObject({ active: 0, queued: 0 });
  });

  it('drains a queue of synchronous tasks without recursing', () => {
    const budget = new RecoveryBudget<number>({ maxConcurrent: 1, maxQueued: 100_000 }, () => true);
    let done = 0;
    let hold = true;
    budget.run(-1, () => undefined); // holds the only slot
    for (let i = 0; i < 20_000; i++) {
      budget.run(i, () => {
        done++;
        budget.release();
      });
    }
    hold = false;
    budget.release();
    expect(hold).toBe(false);
    expect(done).toBe(20_000);
    expect(budget.stats.active).toBe(0);
  });

  it('validates its options with messages that say what to change', () => {
    expect(resolveRecoveryOptions(undefined)).toEqual({ maxConcurrent: 128, maxQueued: 100_000 });
    expect(() => resolveRecoveryOptions({ maxConcurrent: 0 })).toThrow(
      /recovery.maxConcurrent must be an integer >= 1/,
    );
    expect(() => resolveRecoveryOptions({ maxQueued: -1 })).toThrow(/recovery.maxQueued must be an integer >= 0/);
    expect(() => resolveRecoveryOptions({ max: 1 } as never)).toThrow(/unknown option recovery.max/);
    expect(() => new Hub({ recovery: { maxConcurrent: 1.5 } })).toThrow(TypeError);
    // a list is not the options object (it was read as the defaults)
    expect(() => resolveRecoveryOptions([] as never)).toThrow(/recovery must be an object/);
    expect(() => resolveRecoveryOptions(null as never)).toThrow(/recovery must be an object/);
    expect(() => resolveRecoveryOptions({ maxConcurrent: Number.POSITIVE_INFINITY })).toThrow(TypeError);
  });
});

describe('Hub recovery during a reconnect storm', () => {
  const hubs: Hub[] = [];
  afterEach(() => {
    for (const hub of hubs.splice(0)) hub.close();
  });

  /** A Hub whose history answers after a macrotask, like a networked store. */
  async function slowHub(
    options: HubOptions = {},
  ): Promise<{ hub: Hub; broker: MemoryBroker; readsIssued: () => number }> {
    const broker = new MemoryBroker();
    const history = broker.history;
    const read = history.read.bind(history);
    let issued = 0;
    // networked stores answer asynchronously (HistoryStore.read returns a MaybePromise)
    (history as HistoryStore).read = (channel, after, limit) => {
      issued++;
      const value = read(channel, after, limit);
      return new Promise<HistoryRead>((resolve) => setTimeout(() => resolve(value), 2));
    };
    const hub = new Hub({ broker, presence: { leaveGraceMs: 0 }, ...options });
    await hub.start();
    hubs.push(hub);
    return { hub, broker, readsIssued: () => issued };
  }
  function connect(hub: Hub): { conn: Connection; socket: FakeSocket } {
    const socket = new FakeSocket();
    return { conn: hub.addConnection({ socket, transport: 'native', ip: '127.0.0.1' }), socket };
  }
  const send = (hub: Hub, conn: Connection, cmd: object): void => hub.handleText(conn, JSON.stringify(cmd));

  it('recovers 300 clients over 3 channels exactly once in order with a live stream, merging reads and queueing replays', async () => {
    const { hub, readsIssued } = await slowHub({ recovery: { maxConcurrent: 16 } });
    const channels = ['s0', 's1', 's2'];
    const epochs: Record<string, string> = {};
    for (const ch of channels) {
      for (let i = 0; i < 40; i++) await hub.publish(ch, 'e', { i });
      epochs[ch] = (await hub.broker.history.position(ch)).epoch;
    }
    const clients: { socket: FakeSocket; channel: string; since: number }[] = [];
    let live = 0;
    for (let i = 0; i < 300; i++) {
      const channel = channels[i % 3]!;
      const since = 30 + (i % 10); // positions 30..39, near the head
      const c = connect(hub);
      send(hub, c.conn, { type: 'subscribe', channel, ref: 1, since: { epoch: epochs[channel], offset: since } });
      clients.push({ socket: c.socket, channel, since });
      // the live stream goes on during the storm
      if (i % 10 === 0) {
        for (const ch of channels) void hub.publish(ch, 'e', { live });
        live++;
        await tick();
      }
    }
    for (let i = 0; i < 200 && hub.recoveryStats().active + hub.recoveryStats().queued > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const ch of channels) await hub.publish(ch, 'e', { last: true });
    await tick();
    const tops: Record<string, number> = {};
    for (const ch of channels) tops[ch] = (await hub.broker.history.position(ch)).offset;
    for (const c of clients) {
      expect(c.socket.of('ack')[0]).toMatchObject({ recovered: true });
      const offsets = c.socket.messages(c.channel).map((m) => m.offset as number);
      const expected = Array.from({ length: tops[c.channel]! - c.since }, (_, k) => c.since + 1 + k);
      expect(offsets).toEqual(expected);
    }
    const stats = hub.recoveryStats();
    expect(stats.requests).toBe(300);
    expect(stats.reads).toBe(readsIssued());
    expect(stats.reads + stats.readsMerged).toBe(300);
    expect(stats.reads).toBeLessThan(100);
    expect(stats.queuedPeak).toBeGreaterThan(0);
    expect(stats).toMatchObject({ active: 0, queued: 0, refused: 0 });
  });

  it('drops a waiting subscription whose connection closes, and refuses with UNAVAILABLE when the queue is full', async () => {
    const { hub } = await slowHub({ recovery: { maxConcurrent: 1, maxQueued: 1 } });
    await hub.publish('q', 'e', 1);
    const { epoch } = await hub.broker.history.position('q');
    const a = connect(hub);
    const b = connect(hub);
    const c = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'q', ref: 1, since: { epoch, offset: 0 } });
    send(hub, b.conn, { type: 'subscribe', channel: 'q', ref: 1, since: { epoch, offset: 0 } });
    expect(hub.recoveryStats()).toMatchObject({ active: 1, queued: 1 });
    send(hub, c.conn, { type: 'subscribe', channel: 'q', ref: 1, since: { epoch, offset: 0 } });
    const refusal = c.socket.of('error')[0];
    expect(refusal).toMatchObject({ code: 'UNAVAILABLE', ref: 1, channel: 'q' });
    expect(String(refusal?.message)).toMatch(/recovery.maxQueued/);
    hub.removeConnection(b.conn);
    expect(hub.recoveryStats()).toMatchObject({ queued: 0, refused: 1 });
    for (let i = 0; i < 100 && a.socket.of('ack').length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(a.socket.of('ack')[0]).toMatchObject({ recovered: true });
    expect(a.socket.messages('q').map((m) => m.offset)).toEqual([1]);
    expect(b.socket.of('ack')).toEqual([]);
    expect(hub.recoveryStats().active).toBe(0);
  });

  it('drops a waiting subscription that is unsubscribed: subscribe/unsubscribe loops cannot fill the queue', async () => {
    const { hub } = await slowHub({ recovery: { maxConcurrent: 1, maxQueued: 1 } });
    await hub.publish('q', 'e', 1);
    const { epoch } = await hub.broker.history.position('q');
    const a = connect(hub);
    const b = connect(hub);
    const c = connect(hub);
    send(hub, a.conn, { type: 'subscribe', channel: 'q', ref: 1, since: { epoch, offset: 0 } });
    for (let i = 0; i < 5; i++) {
      send(hub, b.conn, { type: 'subscribe', channel: 'q', ref: 2 * i + 1, since: { epoch, offset: 0 } });
      expect(hub.recoveryStats()).toMatchObject({ active: 1, queued: 1 });
      send(hub, b.conn, { type: 'unsubscribe', channel: 'q', ref: 2 * i + 2 });
      expect(hub.recoveryStats()).toMatchObject({ active: 1, queued: 0 });
    }
    // the queue's one place is free for another client
    send(hub, c.conn, { type: 'subscribe', channel: 'q', ref: 1, since: { epoch, offset: 0 } });
    expect(c.socket.of('error')).toEqual([]);
    expect(hub.recoveryStats()).toMatchObject({ queued: 1, refused: 0 });
    for (let i = 0; i < 100 && c.socket.of('ack').length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(c.socket.of('ack')[0]).toMatchObject({ recovered: true });
    expect(c.socket.messages('q').map((m) => m.offset)).toEqual([1]);
    expect(b.socket.messages('q')).toEqual([]);
    expect(hub.recoveryStats()).toMatchObject({ active: 0, queued: 0, refused: 0 });
  });

  it('closes each connection with its own reason when given a function (per-connection reconnect advice)', async () => {
    const { hub } = await slowHub();
    const a = connect(hub);
    const b = connect(hub);
    const reasons = new Map([
      [a.conn, 'x; retry-after-ms=5'],
      [b.conn, 'x; retry-after-ms=7'],
    ]);
    hub.close(1001, (conn) => reasons.get(conn)!);
    expect(a.socket.closedWith).toEqual({ code: 1001, reason: 'x; retry-after-ms=5' });
    expect(b.socket.closedWith).toEqual({ code: 1001, reason: 'x; retry-after-ms=7' });
  });
});
