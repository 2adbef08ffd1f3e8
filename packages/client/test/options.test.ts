import { describe, expect, it } from 'vitest';
import { createClient, DEFAULT_CLIENT_OPTIONS, DEFAULT_RECONNECT_OPTIONS } from '../src/index';
import { resolveUrl } from '../src/options';

describe('client options', () => {
  it('applies documented defaults', () => {
    const client = createClient({ url: 'ws://localhost:1/ws' });
    expect(client.options).toMatchObject({
      transport: 'native',
      autoConnect: false,
      reconnect: DEFAULT_RECONNECT_OPTIONS,
      ...DEFAULT_CLIENT_OPTIONS,
    });
    expect(DEFAULT_RECONNECT_OPTIONS).toEqual({
      initialDelayMs: 500,
      maxDelayMs: 10_000,
      factor: 2,
      stableAfterMs: 5_000,
    });
    expect(client.getSnapshot().status).toBe('idle');
  });

  it('throws TypeErrors that say what to change', () => {
    expect(() => createClient(undefined as never)).toThrow(/options must be an object/);
    expect(() => createClient({} as never)).toThrow(/url is required/);
    expect(() => createClient({ url: '' })).toThrow(/url must not be empty/);
    expect(() => createClient({ url: 'ws://x', colour: 'blue' } as never)).toThrow(/unknown client option "colour"/);
    expect(() => createClient({ url: 'ws://x', token: 'a', getToken: () => 'b' })).toThrow(/either token or getToken/);
    expect(() => createClient({ url: 'ws://x', transport: 'carrier-pigeon' as never })).toThrow(
      /'native', 'socketio' or a transport factory/,
    );
    expect(() => createClient({ url: 'ws://x', io: (() => ({})) as never })).toThrow(/transport: 'socketio' only/);
    expect(() => createClient({ url: 'ws://x', transport: 'socketio', io: 'io' as never })).toThrow(/io function/);
    expect(() => createClient({ url: 'ws://x', reconnect: { initialDelayMs: 1_000, maxDelayMs: 10 } })).toThrow(
      /maxDelayMs \(10\) must be >= reconnect.initialDelayMs \(1000\)/,
    );
    expect(() => createClient({ url: 'ws://x', reconnect: { factor: 0.5 } })).toThrow(/reconnect.factor/);
    expect(() => createClient({ url: 'ws://x', reconnect: { jitter: true } as never })).toThrow(
      /unknown option reconnect.jitter/,
    );
    expect(() => createClient({ url: 'ws://x', maxQueuedPublishes: -1 })).toThrow(
      /maxQueuedPublishes must be an integer >= 0/,
    );
    expect(() => createClient({ url: 'ws://x', maxCommandsPerFrame: 500 })).toThrow(/between 1 and 100/);
    expect(() => createClient({ url: 'ws://x', transport: () => ({}) as never, WebSocket: class {} as never })).toThrow(
      /native transport only/,
    );
  });

  it('turns http(s) URLs into ws(s) and refuses other schemes', () => {
    expect(resolveUrl('http://h:1/ws')).toBe('ws://h:1/ws');
    expect(resolveUrl('https://h/ws')).toBe('wss://h/ws');
    expect(resolveUrl('wss://h/ws')).toBe('wss://h/ws');
    expect(() => resolveUrl('ftp://h/ws')).toThrow(TypeError);
    // no `location` in Node: a path cannot be resolved
    expect(() => resolveUrl('/ws')).toThrow(/ws:\/\//);
  });

  it('stops with a clear error when the URL is unusable (no retry loop)', async () => {
    const client = createClient({ url: () => 'ftp://nowhere' });
    await expect(client.connect()).rejects.toMatchObject({ name: 'UnisocketError', code: 'BAD_REQUEST' });
    expect(client.getSnapshot()).toMatchObject({ status: 'disconnected', attempt: 0 });
    expect(client.getSnapshot().lastError?.message).toMatch(/ws:\/\//);
  });
});
