import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay } from '../src/backoff';
import { createClient } from '../src/index';
import { UrlRotation, readReconnectAdvice } from '../src/urls';
import { fakeTransport, tick } from './fake-transport';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('reconnect advice of a graceful shutdown', () => {
  it('reads retry-after-ms from a 1001 close reason', () => {
    expect(readReconnectAdvice('server shutting down; retry-after-ms=1234')).toBe(1234);
    expect(readReconnectAdvice('retry-after-ms=0')).toBe(0);
    expect(readReconnectAdvice('server shutting down')).toBeUndefined();
    expect(readReconnectAdvice('x-retry-after-ms=5')).toBeUndefined();
    expect(readReconnectAdvice('retry-after-ms=12abc')).toBeUndefined();
  });

  it('waits the advised delay before the first reconnect, bounded by reconnect.maxDelayMs', async () => {
    vi.useFakeTimers();
    const fake = fakeTransport();
    const client = createClient({
      url: 'ws://fake/ws',
      transport: fake.factory,
      reconnect: { initialDelayMs: 100, maxDelayMs: 5_000 },
    });
    const ready = client.connect();
    await vi.advanceTimersByTimeAsync(0);
    fake.connections[0]!.welcome();
    await ready;
    fake.connections[0]!.drop(1001, 'server shutting down; retry-after-ms=1500');
    await vi.advanceTimersByTimeAsync(1_499);
    expect(fake.connections).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.connections).toHaveLength(2);
    fake.connections[1]!.welcome();
    await vi.advanceTimersByTimeAsync(0);
    // an advice above the client's own largest delay is capped
    fake.connections[1]!.drop(1001, 'server shutting down; retry-after-ms=60000');
    await vi.advanceTimersByTimeAsync(4_999);
    expect(fake.connections).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.connections).toHaveLength(3);
    client.disconnect();
  });

  it('ignores advice on a non-1001 close, and on a 1001 before the welcome (the normal backoff, no tight loop)', async () => {
    vi.useFakeTimers();
    // the backoff's jitter drawn at the middle: every retry waits 500 ms
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const fake = fakeTransport();
    const client = createClient({
      url: 'ws://fake/ws',
      transport: fake.factory,
      reconnect: { initialDelayMs: 1_000, maxDelayMs: 1_000, factor: 1 },
    });
    void client.connect().catch(() => undefined);
    await vi.advanceTimersByTimeAsync(0);
    // closed before it was ever ready, advising 0 ms, again and again: each retry waits the (jittered) backoff
    for (let i = 1; i <= 3; i++) {
      fake.connections[i - 1]!.drop(1001, 'server shutting down; retry-after-ms=0');
      await vi.advanceTimersByTimeAsync(499);
      expect(fake.connections).toHaveLength(i);
      await vi.advanceTimersByTimeAsync(1);
      expect(fake.connections).toHaveLength(i + 1);
    }
    fake.connections[3]!.welcome();
    await vi.advanceTimersByTimeAsync(0);
    // an advice on another close code is no advice
    fake.connections[3]!.drop(1011, 'internal error; retry-after-ms=0');
    await vi.advanceTimersByTimeAsync(499);
    expect(fake.connections).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.connections).toHaveLength(5);
    client.disconnect();
  });

  it('reads garbage, negative, huge and repeated advice safely', () => {
    expect(readReconnectAdvice('retry-after-ms=-5')).toBeUndefined();
    expect(readReconnectAdvice('retry-after-ms=1.5')).toBeUndefined();
    expect(readReconnectAdvice('retry-after-ms=')).toBeUndefined();
    expect(readReconnectAdvice('retry-after-ms=1e3')).toBeUndefined();
    // more than 9 digits is outside the grammar: no advice, not a wait of 1e9 ms
    expect(readReconnectAdvice('retry-after-ms=1000000000')).toBeUndefined();
    expect(readReconnectAdvice('retry-after-ms=999999999')).toBe(999_999_999);
    expect(readReconnectAdvice('a; retry-after-ms=5; retry-after-ms=7')).toBe(5);
  });

  it('caps a huge advice at 30 s even when reconnect.maxDelayMs is larger', async () => {
    vi.useFakeTimers();
    const fake = fakeTransport();
    const client = createClient({
      url: 'ws://fake/ws',
      transport: fake.factory,
      reconnect: { initialDelayMs: 100, maxDelayMs: 600_000 },
    });
    const ready = client.connect();
    await vi.advanceTimersByTimeAsync(0);
    fake.connections[0]!.welcome();
    await ready;
    fake.connections[0]!.drop(1001, 'server shutting down; retry-after-ms=999999999');
    await vi.advanceTimersByTimeAsync(29_999);
    expect(fake.connections).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.connections).toHaveLength(2);
    client.disconnect();
  });

  it('a dying node (abnormal close, no advice): the first reconnect delay is drawn from the whole jitter window', () => {
    const options = { initialDelayMs: 500, maxDelayMs: 10_000, factor: 2 };
    const delays = new Set<number>();
    for (let i = 0; i < 200; i++) delays.add(backoffDelay(1, options));
    // not a fixed 0 ms for everybody: spread over [0, 500)
    expect(delays.size).toBeGreaterThan(50);
    expect(Math.max(...delays)).toBeLessThan(500);
    expect(Math.max(...delays)).toBeGreaterThan(250);
  });
});

describe('several server URLs', () => {
  it('starts at a random one and rotates', () => {
    const r = new UrlRotation(['a', 'b', 'c'], () => 0.5);
    expect(r.current).toBe('b');
    r.rotate();
    expect(r.current).toBe('c');
    r.rotate();
    expect(r.current).toBe('a');
    expect(new UrlRotation(['a', 'b'], () => 0.9999999).current).toBe('b');
  });

  it('spreads clients over the list and moves to the next server after a 1001 or an abnormal close', async () => {
    const starts = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const fake = fakeTransport();
      const client = createClient({ url: ['ws://a/ws', 'ws://b/ws', 'ws://c/ws'], transport: fake.factory });
      void client.connect().catch(() => undefined);
      await tick();
      starts.add(fake.connections[0]!.url);
      client.disconnect();
    }
    expect(starts.size).toBe(3);

    const fake = fakeTransport();
    const client = createClient({
      url: ['ws://a/ws', 'ws://b/ws'],
      transport: fake.factory,
      reconnect: { initialDelayMs: 0, maxDelayMs: 0, stableAfterMs: 0 },
    });
    const ready = client.connect();
    await tick();
    const first = fake.connections[0]!;
    first.welcome();
    await ready;
    first.drop(1001, 'server shutting down; retry-after-ms=0');
    await vi.waitFor(() => expect(fake.connections).toHaveLength(2));
    expect(fake.connections[1]!.url).not.toBe(first.url);
    fake.connections[1]!.drop(1006);
    await vi.waitFor(() => expect(fake.connections).toHaveLength(3));
    expect(fake.connections[2]!.url).toBe(first.url);
    client.disconnect();
  });

  it('refuses an empty list or a bad URL with a TypeError that says what to change', () => {
    expect(() => createClient({ url: [] })).toThrow(/url must not be an empty list/);
    expect(() => createClient({ url: ['ws://a/ws', 'ftp://b'] })).toThrow(/url\[1\]: url must be a ws:\/\//);
    expect(() => createClient({ url: ['ws://a/ws', ''] })).toThrow(/url\[1\] must be a non-empty string/);
    expect(() => createClient({ url: [42 as never] })).toThrow(TypeError);
    // a server listed twice would be retried right after it was lost
    expect(() => createClient({ url: ['ws://a/ws', 'ws://b/ws', 'ws://a/ws'] })).toThrow(
      /url\[2\] repeats url\[0\] \(ws:\/\/a\/ws\): list each server once/,
    );
    expect(() => createClient({ url: ['http://a/ws', 'ws://a/ws'] })).toThrow(/url\[1\] repeats url\[0\]/);
    // one URL in a list is fine
    expect(() => createClient({ url: ['ws://a/ws'] })).not.toThrow();
  });
});
