import { describe, expect, it } from 'vitest';
import { type ExternalStore, deriveStore, watchStore } from '../src/index';

/** A store whose snapshot the test replaces; listeners are called synchronously. */
function source<T>(initial: T): ExternalStore<T> & { set(value: T): void } {
  let value = initial;
  const listeners = new Set<() => void>();
  return {
    getSnapshot: () => value,
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(next) {
      value = next;
      for (const listener of [...listeners]) listener();
    },
  };
}

describe('deriveStore', () => {
  it('selects only when the source changed, and tells listeners only when the selected value changed', () => {
    const s = source({ a: 1, b: 1 });
    let selects = 0;
    const a = deriveStore(s, (v) => {
      selects++;
      return v.a;
    });
    expect(a.getSnapshot()).toBe(1);
    expect(a.getSnapshot()).toBe(1);
    expect(selects).toBe(1);
    let heard = 0;
    const off = a.subscribe(() => heard++);
    s.set({ a: 1, b: 2 });
    expect(heard).toBe(0);
    s.set({ a: 2, b: 2 });
    expect(heard).toBe(1);
    expect(a.getSnapshot()).toBe(2);
    off();
    s.set({ a: 3, b: 2 });
    expect(heard).toBe(1);
  });

  it('keeps the earlier object while isEqual says the selection did not change', () => {
    const s = source({ status: 'idle', n: 0 });
    const status = deriveStore(
      s,
      (v) => ({ status: v.status }),
      (x, y) => x.status === y.status,
    );
    const first = status.getSnapshot();
    s.set({ status: 'idle', n: 1 });
    expect(status.getSnapshot()).toBe(first);
    s.set({ status: 'connected', n: 1 });
    expect(status.getSnapshot()).toEqual({ status: 'connected' });
  });
});

describe('watchStore', () => {
  it('calls back with each new snapshot until stopped', () => {
    const s = source(0);
    const seen: number[] = [];
    const stop = watchStore(s, (v) => seen.push(v));
    s.set(1);
    s.set(2);
    stop();
    s.set(3);
    expect(seen).toEqual([1, 2]);
  });
});
