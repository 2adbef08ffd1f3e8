import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  Broker,
  type BrokerOptions,
  MemoryHistoryStore,
  MemoryPresenceStore,
  type PublishRequest,
  type PublishResult,
  type UnisocketError,
  messageHead,
} from '../src/index';

/** A backend that never comes back: the broker stays `degraded` until the test says otherwise. */
class AwayBroker extends Broker {
  readonly kind = 'away';
  readonly history = new MemoryHistoryStore({ size: 10 });
  readonly presence = new MemoryPresenceStore();

  protected async doStart(): Promise<void> {
    this.setState('degraded', 'backend unreachable');
  }
  protected doPublish(request: PublishRequest): PublishResult {
    const m = this.history.append(request);
    return { epoch: m.epoch, offset: m.offset };
  }
  protected doPublishVolatile(): void {}
  protected doSubscribe(): void {}
  protected doUnsubscribe(): void {}
  protected async doClose(): Promise<void> {}

  back(): void {
    this.setState('ready');
  }
}

function request(id: string): PublishRequest {
  return { channel: 'x', id, head: messageHead('x', 'e', '1', id, 0), ts: 0, idempotent: false };
}

/** Publishes and records when (fake time) the publish settled and how. */
function track(broker: Broker, id: string): { settledAt?: number; error?: UnisocketError; result?: PublishResult } {
  const outcome: { settledAt?: number; error?: UnisocketError; result?: PublishResult } = {};
  Promise.resolve(broker.publish(request(id))).then(
    (result) => Object.assign(outcome, { settledAt: Date.now(), result }),
    (error: UnisocketError) => Object.assign(outcome, { settledAt: Date.now(), error }),
  );
  return outcome;
}

async function degradedBroker(options: BrokerOptions = {}): Promise<AwayBroker> {
  const broker = new AwayBroker(options);
  broker.attach({ dispatch() {}, dispatchVolatile() {}, resync() {} });
  await broker.start();
  expect(broker.state).toBe('degraded');
  return broker;
}

describe('pending publishes while the backend is away', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses a queued publish at its deadline, not up to a second later', async () => {
    const broker = await degradedBroker({ pendingPublishTimeoutMs: 10_000 });
    const earlier = track(broker, 'a');
    await vi.advanceTimersByTimeAsync(500);
    const queued = track(broker, 'b');
    await vi.advanceTimersByTimeAsync(9_500);
    expect(earlier.settledAt).toBe(10_000);
    await vi.advanceTimersByTimeAsync(499);
    expect(queued.settledAt).toBeUndefined();
    expect(broker.stats.pendingPublishes).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(queued.settledAt).toBe(10_500);
    expect(queued.error).toMatchObject({ code: 'UNAVAILABLE', message: 'the away broker did not come back in time' });
    expect(broker.stats).toMatchObject({ pendingPublishes: 0, refusedPublishes: 2 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses each publish at its own deadline with one timer, re-armed for the next', async () => {
    const broker = await degradedBroker({ pendingPublishTimeoutMs: 1_000 });
    const first = track(broker, 'a');
    await vi.advanceTimersByTimeAsync(300);
    const second = track(broker, 'b');
    const third = track(broker, 'c');
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(first.settledAt).toBe(1_000);
    expect(second.settledAt).toBe(1_300);
    expect(third.settledAt).toBe(1_300);
    expect(broker.stats.refusedPublishes).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('publishes what waited when the backend returns, and stops the timer', async () => {
    const broker = await degradedBroker({ pendingPublishTimeoutMs: 1_000 });
    const queued = track(broker, 'a');
    await vi.advanceTimersByTimeAsync(400);
    broker.back();
    await vi.advanceTimersByTimeAsync(0);
    expect(queued.result).toMatchObject({ offset: 1 });
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(broker.stats).toMatchObject({ published: 1, refusedPublishes: 0, pendingPublishes: 0 });
  });

  it('refuses what waits when the broker closes', async () => {
    const broker = await degradedBroker();
    const queued = track(broker, 'a');
    await broker.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(queued.error).toMatchObject({ code: 'UNAVAILABLE', message: 'the away broker is closed' });
    expect(vi.getTimerCount()).toBe(0);
  });
});
