import { describe, expect, it } from 'vitest';
import { assessRun, combineVerdicts, median } from '../src/validity.mjs';

const pinned = { pinned: true, clientCores: 1 };
const unpinned = { pinned: false, clientCores: 2 };

describe('run validity', () => {
  it('invalidates a run when one load-generator process uses more than 90% of a core', () => {
    const v = assessRun({ clientCpuPct: [95, 20], layout: unpinned });
    expect(v.valid).toBe(false);
    expect(v.reasons[0]).toMatch(/load generator #0 used 95%/);
  });

  it('invalidates pinned load generators that together saturate their core(s)', () => {
    expect(assessRun({ clientCpuPct: [50, 45], layout: pinned }).valid).toBe(false);
    expect(assessRun({ clientCpuPct: [40, 40], layout: pinned }).valid).toBe(true);
  });

  it('lets saturated load generators that kept up pass with a warning in throughput runs', () => {
    const keptUp = assessRun({ clientCpuPct: [46, 46], layout: pinned, deliveryLagMs: 20, windowMs: 8000 });
    expect(keptUp.valid).toBe(true);
    expect(keptUp.warnings.join()).toMatch(/kept up/);
    const behind = assessRun({ clientCpuPct: [46, 46], layout: pinned, deliveryLagMs: 2000, windowMs: 8000 });
    expect(behind.valid).toBe(false);
    expect(behind.reasons.join()).toMatch(/fell behind/);
  });

  it('invalidates runs on a busy machine and when sockets failed to connect', () => {
    expect(assessRun({ clientCpuPct: [], layout: pinned, machineLoad: { foreignCpuPct: 60, stealPct: 0 } }).valid).toBe(
      false,
    );
    expect(
      assessRun({ clientCpuPct: [], layout: pinned, machineLoad: { foreignCpuPct: 15, stealPct: 0 } }).warnings,
    ).toHaveLength(1);
    expect(assessRun({ clientCpuPct: [], layout: pinned, connectFailed: 3 }).valid).toBe(false);
  });

  it('reports drops as a warning, not as invalid', () => {
    const v = assessRun({ clientCpuPct: [10], layout: pinned, drops: 5 });
    expect(v.valid).toBe(true);
    expect(v.warnings).toEqual(['5 deliveries missing after the drain']);
  });

  it('combines repeated runs: valid only if all were', () => {
    const v = combineVerdicts([
      { valid: true, reasons: [], warnings: ['w'] },
      { valid: false, reasons: ['r'], warnings: ['w'] },
    ]);
    expect(v).toEqual({ valid: false, reasons: ['r'], warnings: ['w'] });
  });

  it('takes medians, ignoring missing values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5])).toBe(5);
    expect(median([])).toBeNaN();
  });
});
