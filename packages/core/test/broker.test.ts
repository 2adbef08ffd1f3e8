import { describe, expect, it } from 'vitest';
import {
  Broker,
  type BrokerHost,
  MemoryHistoryStore,
  MemoryPresenceStore,
  type PublishRequest,
  type PublishResult,
  type StreamMessage,
  type StreamPosition,
  UnisocketError,
  messageHead,
} from '../src/index';

/** A broker whose backend is driven by the test: it decides what arrives, when, and in which order. */
class ScriptedBroker extends Broker {
  readonly kind = 'scripted';
  readonly history = new MemoryHistoryStore({ size: 100 });
  readonly presence = new MemoryPresenceStore();
  subscribed: string[][] = [];
  unsubscribed: string[][] = [];
  published: StreamMessage[] = [];

  protected async doStart(): Promise<void> {}
  protected doPublish(request: PublishRequest): PublishResult {
    const m = this.history.append(request);
    this.published.push(m);
    return { epoch: m.epoch, offset: m.offset };
  }
  protected doPublishVolatile(): void {}
  protected async doSubscribe(channels: string[]): Promise<void> {
    this.subscribed.push(channels);
  }
  protected async doUnsubscribe(channels: string[]): Promise<void> {
    this.unsubscribed.push(channels);
  }
  protected async doClose(): Promise<void> {}

  arrive(m: StreamMessage): void {
    this.receive(m);
  }
  state_(state: 'ready' | 'degraded'): void {
    this.setState(state);
  }
}

/** The same broker with a history whose reads wait until the test releases them (a networked history). */
class GatedBroker extends ScriptedBroker {
  readonly store = new MemoryHistoryStore({ size: 3 });
  gates: (() => void)[] = [];
  override readonly history = {
    position: (channel: string) => this.store.position(channel),
    read: (channel: string, after: StreamPosition, limit?: number) =>
      new Promise<ReturnType<MemoryHistoryStore['read']>>((resolve) => {
        this.gates.push(() => resolve(this.store.read(channel, after, limit)));
      }),
    append: (r: PublishRequest) => this.store.append(r),
    delete: (channel: string) => this.store.delete(channel),
  } as unknown as MemoryHistoryStore;
  release(): void {
    for (const g of this.gates.splice(0)) g();
  }
}

/** A backend whose reader resumes where it stopped (like a Kafka consumer): no re-check after an outage, only on demand. */
class ResumingBroker extends ScriptedBroker {
  protected override readonly convergeAfterOutage = false;
  recheck_(filter?: (channel: string) => boolean): void {
    this.recheck(filter);
  }
}

function recorder(): BrokerHost & { got: number[]; resyncs: StreamPosition[] } {
  const got: number[] = [];
  const resyncs: StreamPosition[] = [];
  return {
    got,
    resyncs,
    dispatch: (m) => got.push(m.offset),
    dispatchVolatile: () => {},
    resync: (_c, p) => resyncs.push(p),
  };
}

function request(channel: string, id: string): PublishRequest {
  return { channel, id, head: messageHead(channel, 'e', '1', id, Date.now()), ts: Date.now(), idempotent: false };
}

async function setup(): Promise<{ broker: ScriptedBroker; host: ReturnType<typeof recorder> }> {
  const broker = new ScriptedBroker({ gapTimeoutMs: 10 });
  const host = recorder();
  broker.attach(host);
  await broker.start();
  return { broker, host };
}

describe('Broker base', () => {
  it('batches subscription changes of one tick into one backend call, and cancels subscribe+unsubscribe', async () => {
    const { broker } = await setup();
    const p1 = broker.subscribe('a');
    const p2 = broker.subscribe('b');
    const cancelled = broker.subscribe('c') as Promise<unknown>;
    broker.unsubscribe('c');
    await expect(cancelled).rejects.toThrow(/cancelled|unsubscribed/);
    await Promise.all([p1, p2]);
    expect(broker.subscribed).toEqual([['a', 'b']]);
    expect(broker.unsubscribed).toEqual([]);
    expect([...broker.channels]).toEqual(['a', 'b']);
  });

  it('delivers in offset order, holding early arrivals and dropping duplicates', async () => {
    const { broker, host } = await setup();
    await broker.subscribe('x');
    for (let i = 0; i < 5; i++) broker.publish(request('x', `m${i}`));
    const [m1, m2, m3, m4, m5] = broker.published;
    broker.arrive(m2!);
    broker.arrive(m1!);
    broker.arrive(m1!);
    broker.arrive(m4!);
    broker.arrive(m3!);
    broker.arrive(m5!);
    broker.arrive(m5!);
    expect(host.got).toEqual([1, 2, 3, 4, 5]);
    expect(broker.stats.duplicates).toBe(2);
  });

  it('fills a gap from history when the missing message never arrives', async () => {
    const { broker, host } = await setup();
    await broker.subscribe('x');
    for (let i = 0; i < 4; i++) broker.publish(request('x', `m${i}`));
    const [m1, , , m4] = broker.published;
    broker.arrive(m1!);
    broker.arrive(m4!);
    expect(host.got).toEqual([1]);
    await new Promise((r) => setTimeout(r, 30));
    expect(host.got).toEqual([1, 2, 3, 4]);
    expect(broker.stats.gapsFilled).toBe(1);
  });

  it('resyncs when history lost the gap', async () => {
    const broker = new ScriptedBroker({ gapTimeoutMs: 10 });
    const host = recorder();
    broker.attach(host);
    await broker.start();
    await broker.subscribe('x');
    for (let i = 0; i < 150; i++) broker.publish(request('x', `m${i}`)); // history keeps the last 100
    broker.arrive(broker.published[0]!);
    broker.arrive(broker.published[149]!);
    await new Promise((r) => setTimeout(r, 30));
    expect(host.got[0]).toBe(1);
    expect(host.resyncs).toHaveLength(1);
    expect(host.got.slice(1)).toEqual(Array.from({ length: 100 }, (_, i) => 51 + i));
    expect(broker.stats.gapsLost).toBe(1);
  });

  it('starts each channel after the position read at subscribe time', async () => {
    const { broker, host } = await setup();
    for (let i = 0; i < 3; i++) broker.publish(request('x', `old${i}`));
    const position = await broker.subscribe('x');
    expect(position.offset).toBe(3);
    broker.arrive(broker.published[2]!); // before the baseline: dropped
    broker.publish(request('x', 'new'));
    broker.arrive(broker.published[3]!);
    expect(host.got).toEqual([4]);
  });

  it('queues publishes while degraded, within a bound, and flushes them when ready', async () => {
    const broker = new ScriptedBroker({ maxPendingPublishes: 2 });
    broker.attach(recorder());
    await broker.start();
    broker.state_('degraded');
    const a = broker.publish(request('x', 'a'));
    const b = broker.publish(request('x', 'b'));
    await expect(broker.publish(request('x', 'c'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(broker.stats.pendingPublishes).toBe(2);
    broker.state_('ready');
    expect(await a).toMatchObject({ offset: 1 });
    expect(await b).toMatchObject({ offset: 2 });
    await broker.close();
    expect(() => broker.publish(request('x', 'd'))).toThrow(UnisocketError);
  });

  it('after an outage, fills what the node missed from history', async () => {
    const { broker, host } = await setup();
    await broker.subscribe('x');
    broker.publish(request('x', 'a'));
    broker.arrive(broker.published[0]!);
    broker.state_('degraded');
    // published by other nodes while this one was cut off: never arrives live
    broker.history.append(request('x', 'b'));
    broker.history.append(request('x', 'c'));
    broker.state_('ready');
    await new Promise((r) => setTimeout(r, 10));
    expect(host.got).toEqual([1, 2, 3]);
  });

  it('does not re-check channels after an outage when the backend resumes where it stopped; recheck() does on demand', async () => {
    const broker = new ResumingBroker({ gapTimeoutMs: 10 });
    const host = recorder();
    broker.attach(host);
    await broker.start();
    await Promise.all([broker.subscribe('x'), broker.subscribe('y')]);
    broker.state_('degraded');
    broker.history.append(request('x', 'a'));
    broker.history.append(request('y', 'b'));
    broker.state_('ready');
    await new Promise((r) => setTimeout(r, 10));
    expect(host.got).toEqual([]);
    broker.recheck_((channel) => channel === 'x');
    await new Promise((r) => setTimeout(r, 10));
    expect(host.got).toEqual([1]);
    broker.recheck_();
    await new Promise((r) => setTimeout(r, 10));
    expect(host.got).toEqual([1, 1]);
  });

  it('after an outage that lost the history, delivers the new epoch from its start (not from its top)', async () => {
    const { broker, host } = await setup();
    await broker.subscribe('x');
    broker.publish(request('x', 'a'));
    broker.arrive(broker.published[0]!);
    broker.state_('degraded');
    // the backend lost the channel (new epoch), and other nodes published into the new epoch meanwhile
    broker.history.delete('x');
    broker.history.append(request('x', 'b'));
    broker.history.append(request('x', 'c'));
    const epoch = broker.history.position('x').epoch;
    broker.state_('ready');
    await new Promise((r) => setTimeout(r, 10));
    expect(host.resyncs).toEqual([{ epoch, offset: 0 }]);
    expect(host.got).toEqual([1, 1, 2]);
    expect(broker.stats.resyncs).toBe(1);
  });

  it('a gap fill whose answer arrives after live messages moved past the gap neither resyncs nor goes back', async () => {
    const broker = new GatedBroker({ gapTimeoutMs: 5 });
    const host = recorder();
    broker.attach(host);
    await broker.start();
    await broker.subscribe('x');
    for (let i = 0; i < 5; i++) broker.publish(request('x', `m${i}`)); // history keeps 3, 4, 5
    const [m1, m2, m3, m4, m5] = broker.published;
    broker.arrive(m1!);
    broker.arrive(m3!);
    await new Promise((r) => setTimeout(r, 20)); // the gap fill from 1 is reading
    expect(broker.gates).toHaveLength(1);
    broker.arrive(m2!); // the missing one arrives live after all
    expect(host.got).toEqual([1, 2, 3]);
    broker.release(); // "after 1: incomplete (2 is gone), kept 3, 4, 5"
    await new Promise((r) => setTimeout(r, 5));
    broker.arrive(m4!);
    broker.arrive(m5!);
    expect(host.got).toEqual([1, 2, 3, 4, 5]);
    expect(host.resyncs).toEqual([]);
    expect(broker.stats.gapsLost).toBe(0);
  });

  it('a gap fill of the old epoch answered after live messages of a new epoch arrived does not resync twice', async () => {
    const broker = new GatedBroker({ gapTimeoutMs: 5 });
    const host = recorder();
    broker.attach(host);
    await broker.start();
    await broker.subscribe('x');
    broker.publish(request('x', 'a'));
    broker.arrive(broker.published[0]!);
    broker.state_('degraded');
    broker.history.delete('x');
    broker.state_('ready'); // converge: the position shows a new epoch, a gap fill from the old one starts
    await new Promise((r) => setTimeout(r, 5));
    expect(broker.gates).toHaveLength(1);
    for (let i = 0; i < 3; i++) broker.publish(request('x', `n${i}`));
    for (const m of broker.published.slice(1)) broker.arrive(m); // the new epoch arrives live first
    const epoch = broker.published[1]!.epoch;
    broker.release();
    await new Promise((r) => setTimeout(r, 20));
    broker.release();
    await new Promise((r) => setTimeout(r, 5));
    expect(host.resyncs).toEqual([{ epoch, offset: 0 }]);
    expect(host.got).toEqual([1, 1, 2, 3]);
  });
});
