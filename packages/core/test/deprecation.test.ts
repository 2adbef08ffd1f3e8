import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_BROKER_OPTIONS,
  MemoryBroker,
  MemoryBus,
  type PublishRequest,
  messageHead,
  resolveBrokerOptions,
  warnDeprecated,
} from '../src/index';

// one warning per old name per process: each old name is used in one test only, and every test counts its own

let warnings: { message: string; code: string | undefined; type: string | undefined }[];

beforeEach(() => {
  warnings = [];
  vi.spyOn(process, 'emitWarning').mockImplementation(((
    message: string,
    options?: { type?: string; code?: string },
  ) => {
    warnings.push({ message, code: options?.code, type: options?.type });
  }) as typeof process.emitWarning);
});
afterEach(() => {
  vi.restoreAllMocks();
});

function request(id: string): PublishRequest {
  return { channel: 'x', id, head: messageHead('x', 'e', '1', id, 0), ts: 0, idempotent: true };
}

describe('warnDeprecated', () => {
  it('emits one DeprecationWarning per old name per process, with a code naming it', () => {
    expect(warnDeprecated('someOldThing', 'someNewThing')).toBe(true);
    expect(warnDeprecated('someOldThing', 'someNewThing')).toBe(false);
    expect(warnings).toEqual([
      {
        message: 'someOldThing is deprecated; use someNewThing',
        type: 'DeprecationWarning',
        code: 'UNISOCKET_DEP_SOME_OLD_THING',
      },
    ]);
  });
});

describe('BrokerOptions.dedupeWindow → deliveredIdsWindow', () => {
  it('keeps the default under both names', () => {
    expect(resolveBrokerOptions({})).toMatchObject({ deliveredIdsWindow: 10_000, dedupeWindow: 10_000 });
    expect(DEFAULT_BROKER_OPTIONS.deliveredIdsWindow).toBe(10_000);
  });

  it('accepts the old name for the new one and warns once', () => {
    expect(resolveBrokerOptions({ dedupeWindow: 5 })).toMatchObject({ deliveredIdsWindow: 5, dedupeWindow: 5 });
    expect(resolveBrokerOptions({ deliveredIdsWindow: 6 })).toMatchObject({ deliveredIdsWindow: 6, dedupeWindow: 6 });
    new MemoryBroker({ dedupeWindow: 7 });
    expect(resolveBrokerOptions({ dedupeWindow: 8, deliveredIdsWindow: 8 })).toMatchObject({ deliveredIdsWindow: 8 });
    expect(warnings).toEqual([
      {
        message: 'dedupeWindow is deprecated; use deliveredIdsWindow',
        type: 'DeprecationWarning',
        code: 'UNISOCKET_DEP_DEDUPE_WINDOW',
      },
    ]);
  });

  it('refuses both names with different values, saying which to keep', () => {
    expect(() => resolveBrokerOptions({ dedupeWindow: 5, deliveredIdsWindow: 6 })).toThrow(TypeError);
    expect(() => new MemoryBroker({ dedupeWindow: 5, deliveredIdsWindow: 6 })).toThrow(
      /keep deliveredIdsWindow and remove dedupeWindow/,
    );
  });

  it('validates the value whichever name carries it', () => {
    expect(() => resolveBrokerOptions({ deliveredIdsWindow: 0 })).toThrow(/deliveredIdsWindow must be an integer >= 1/);
  });
});

describe('MemoryBusOptions.dedupeCacheSize / dedupeWindowMs → idempotencyCacheSize / idempotencyWindowMs', () => {
  it('accepts the old names and warns once per name', () => {
    const bus = new MemoryBus({ dedupeCacheSize: 2, dedupeWindowMs: 1_000 });
    expect(bus.idempotencyCacheSize).toBe(2);
    new MemoryBroker({ dedupeCacheSize: 3, dedupeWindowMs: 2_000 });
    expect(warnings.map((w) => w.code)).toEqual(['UNISOCKET_DEP_DEDUPE_CACHE_SIZE', 'UNISOCKET_DEP_DEDUPE_WINDOW_MS']);
    expect(warnings[0]!.message).toBe('dedupeCacheSize is deprecated; use idempotencyCacheSize');
    expect(warnings[1]!.message).toBe('dedupeWindowMs is deprecated; use idempotencyWindowMs');
  });

  it('the new names set the idempotency cache: a repeated key within the window is a duplicate', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const bus = new MemoryBus({ idempotencyCacheSize: 1, idempotencyWindowMs: 1_000 });
      expect(bus.idempotencyCacheSize).toBe(1);
      expect(bus.publish(request('a'))).toEqual({ epoch: expect.any(String), offset: 1 });
      expect(bus.publish(request('a'))).toMatchObject({ offset: 1, duplicate: true });
      bus.publish(request('b')); // a count of 1: 'a' is forgotten
      expect(bus.publish(request('a'))).toMatchObject({ offset: 3 });
      expect(bus.idempotencyCacheEntries).toBe(1);
      vi.advanceTimersByTime(1_001); // past the window: 'a' is forgotten
      expect(bus.publish(request('a'))).toMatchObject({ offset: 4 });
    } finally {
      vi.useRealTimers();
    }
    expect(warnings).toEqual([]);
  });

  it('refuses both names with different values, saying which to keep', () => {
    expect(() => new MemoryBus({ dedupeCacheSize: 2, idempotencyCacheSize: 3 })).toThrow(
      /keep idempotencyCacheSize and remove dedupeCacheSize/,
    );
    expect(() => new MemoryBroker({ dedupeWindowMs: 2, idempotencyWindowMs: 3 })).toThrow(
      /keep idempotencyWindowMs and remove dedupeWindowMs/,
    );
  });

  it('refuses bus options on a broker given a shared bus, under either name', () => {
    const bus = new MemoryBus();
    expect(() => new MemoryBroker({ bus, idempotencyCacheSize: 2 })).toThrow(
      /pass idempotencyCacheSize to the shared MemoryBus/,
    );
    expect(() => new MemoryBroker({ bus, history: { size: 1 } })).toThrow(/pass history to the shared MemoryBus/);
  });
});
