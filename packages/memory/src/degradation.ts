import { EventEmitter } from 'node:events';
import { CircularBuffer } from './circular-buffer';
import {
  MEMORY_LEVELS,
  type MemoryLevel,
  type MemoryLevelChange,
  type MemoryManager,
  type MemoryStatus,
  rank,
} from './memory-manager';

/**
 * One action taken at a memory level. Actions return an optional detail (what they did) for the log.
 */
export interface DegradationStep {
  /** What the step does, in a few words (shown in logs and in the memory analysis). */
  description: string;
  /** Runs when the level is reached from below (also when a change skips over the level). */
  apply(status: MemoryStatus): string | void;
  /** Runs when the pressure falls below the level: undoes {@link apply}. */
  revert?(status: MemoryStatus): string | void;
  /** Runs on every later sample while the level (or a higher one) holds, e.g. to keep shedding what keeps coming. */
  repeat?(status: MemoryStatus): string | void;
}

/** The steps of each level above `normal`. Levels are cumulative: critical also keeps what warning applied. */
export type DegradationPlan = Partial<Record<Exclude<MemoryLevel, 'normal'>, DegradationStep[]>>;

/** One entry of the degradation log. */
export interface DegradationEvent {
  at: number;
  level: MemoryLevel;
  action: 'apply' | 'revert' | 'repeat';
  description: string;
  /** What the step reported, if anything. */
  detail?: string;
  /** The step threw this (the other steps still ran). */
  error?: string;
  /** The pressure when it ran, in percent. */
  pressure: number;
}

/** Options of {@link ProgressiveDegradation}. */
export interface ProgressiveDegradationOptions {
  /**
   * How many log entries are kept.
   * @default 100
   */
  logSize?: number;
}

/** Events of {@link ProgressiveDegradation}. */
export interface ProgressiveDegradationEvents {
  /** A step ran (apply, revert, or a repeat that reported something). */
  action: [event: DegradationEvent];
  /** A step threw. */
  error: [error: Error, event: DegradationEvent];
}

/**
 * Runs a {@link DegradationPlan} as a {@link MemoryManager}'s level moves: on the way up each level's steps `apply`
 * in order (skipped levels included), on the way down they `revert` in reverse order, and while a level holds its
 * steps `repeat` on every sample. What ran is kept in a bounded log. A step that throws is logged and reported on
 * `error`; the other steps still run.
 *
 * @example
 * ```ts
 * new ProgressiveDegradation(manager, {
 *   warning: [{ description: 'shrink the cache', apply: () => cache.resize(1000), revert: () => cache.resize(10_000) }],
 *   critical: [{ description: 'refuse new work', apply: () => (accepting = false), revert: () => (accepting = true) }],
 * });
 * ```
 */
export class ProgressiveDegradation extends EventEmitter<ProgressiveDegradationEvents> {
  readonly #manager: MemoryManager;
  readonly #plan: DegradationPlan;
  readonly #log: CircularBuffer<DegradationEvent>;
  #applied: MemoryLevel = 'normal';

  constructor(manager: MemoryManager, plan: DegradationPlan, options: ProgressiveDegradationOptions = {}) {
    super();
    for (const key of Object.keys(plan)) {
      if (key !== 'warning' && key !== 'critical' && key !== 'emergency') {
        throw new TypeError(`unknown degradation level "${key}"; use warning, critical and emergency`);
      }
      const steps = plan[key];
      if (!Array.isArray(steps) || steps.some((s) => typeof s?.apply !== 'function')) {
        throw new TypeError(
          `degradation plan.${key} must be an array of steps { description, apply, revert?, repeat? }`,
        );
      }
    }
    this.#manager = manager;
    this.#plan = plan;
    this.#log = new CircularBuffer(options.logSize ?? 100);
    manager.on('level', this.#onLevel);
    manager.on('sample', this.#onSample);
    if (manager.level !== 'normal') this.#move(manager.level, manager.status);
  }

  /** The level whose steps are applied now. */
  get level(): MemoryLevel {
    return this.#applied;
  }

  /** The steps in force now, lowest level first. */
  get active(): { level: MemoryLevel; description: string }[] {
    const out: { level: MemoryLevel; description: string }[] = [];
    for (const level of MEMORY_LEVELS) {
      if (level === 'normal' || rank(level) > rank(this.#applied)) continue;
      for (const step of this.#plan[level] ?? []) out.push({ level, description: step.description });
    }
    return out;
  }

  /** What ran, oldest first (the last `logSize` entries). */
  get log(): DegradationEvent[] {
    return this.#log.toArray();
  }

  /** Stops following the manager. Applied steps stay applied (call it after reverting, or at shutdown). */
  detach(): void {
    this.#manager.off('level', this.#onLevel);
    this.#manager.off('sample', this.#onSample);
  }

  readonly #onLevel = (change: MemoryLevelChange): void => {
    this.#move(change.to, change.status);
  };

  readonly #onSample = (status: MemoryStatus): void => {
    if (status.changed) return; // the level change just applied the steps
    for (const level of MEMORY_LEVELS) {
      if (level === 'normal' || rank(level) > rank(this.#applied)) continue;
      for (const step of this.#plan[level] ?? []) {
        if (step.repeat !== undefined) this.#run(level, 'repeat', step, status, step.repeat);
      }
    }
  };

  #move(to: MemoryLevel, status: MemoryStatus): void {
    const from = this.#applied;
    this.#applied = to;
    if (rank(to) > rank(from)) {
      for (let r = rank(from) + 1; r <= rank(to); r++) {
        const level = MEMORY_LEVELS[r]!;
        for (const step of this.#plan[level as Exclude<MemoryLevel, 'normal'>] ?? []) {
          this.#run(level, 'apply', step, status, step.apply);
        }
      }
    } else {
      for (let r = rank(from); r > rank(to); r--) {
        const level = MEMORY_LEVELS[r]!;
        const steps = this.#plan[level as Exclude<MemoryLevel, 'normal'>] ?? [];
        for (let i = steps.length - 1; i >= 0; i--) {
          const step = steps[i]!;
          if (step.revert !== undefined) this.#run(level, 'revert', step, status, step.revert);
        }
      }
    }
  }

  #run(
    level: MemoryLevel,
    action: DegradationEvent['action'],
    step: DegradationStep,
    status: MemoryStatus,
    fn: (status: MemoryStatus) => string | void,
  ): void {
    const event: DegradationEvent = {
      at: Date.now(),
      level,
      action,
      description: step.description,
      pressure: status.pressure,
    };
    try {
      const detail = fn.call(step, status);
      if (typeof detail === 'string' && detail.length > 0) event.detail = detail;
      // a repeat that did nothing is not worth a log line
      else if (action === 'repeat') return;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      event.error = err.message;
      this.#log.push(event);
      this.emit('action', event);
      if (this.listenerCount('error') > 0) this.emit('error', err, event);
      return;
    }
    this.#log.push(event);
    this.emit('action', event);
  }
}
