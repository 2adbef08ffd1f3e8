import { describe, expect, it } from 'vitest';
import { foreignLoad, readCpuTicks } from '../src/load.mjs';
import { sourceAddressPool } from '../src/machine.mjs';

describe('other load on the machine', () => {
  it('is the machine-wide user CPU minus the run’s own, in % of one core', () => {
    const before = { userNice: 1000, steal: 10, total: 5000 };
    const after = { userNice: 1300, steal: 20, total: 5400 }; // 3 s of user CPU over 2 s, 0.1 s stolen
    expect(foreignLoad(before, after, 2.5, 2)).toEqual({ foreignCpuPct: 25, stealPct: 5 });
    expect(foreignLoad(before, after, 4, 2)?.foreignCpuPct).toBe(0); // never negative
    expect(foreignLoad(null, after, 0, 2)).toBeNull();
  });

  it('reads /proc/stat where there is one', () => {
    const ticks = readCpuTicks();
    if (process.platform === 'linux') expect(ticks?.total).toBeGreaterThan(0);
    else expect(ticks).toBeNull();
  });
});

describe('source addresses', () => {
  it('rotates through 127.0.0.2–254 so successive runs get fresh addresses', () => {
    const next = sourceAddressPool(true);
    expect(next(2)).toEqual(['127.0.0.2', '127.0.0.3']);
    expect(next(1)).toEqual(['127.0.0.4']);
    for (let i = 0; i < 250; i++) next(1);
    expect(next(1)).toEqual(['127.0.0.2']);
    expect(sourceAddressPool(false)(3)).toEqual([]);
  });
});
