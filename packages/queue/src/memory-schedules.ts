import { nextCronTick, type ResolvedJobOptions, type ResolvedSchedule } from './options';
import type { ScheduleInfo } from './types';
import { unavailable } from './util';

/** Recurring jobs a memory queue holds at most. */
export const MAX_MEMORY_SCHEDULES = 10_000;
/** The longest a Node timer can wait; longer waits are done in steps. @internal */
export const MAX_TIMER_MS = 2_147_483_647;

/** A recurring job of a memory queue. @internal */
export interface MemorySchedule {
  readonly key: string;
  readonly name: string;
  readonly data: unknown;
  readonly options: ResolvedJobOptions;
  readonly spec: ResolvedSchedule;
  /** The next tick (epoch ms). */
  next: number;
  timer: NodeJS.Timeout | undefined;
}

function sameSpec(a: ResolvedSchedule, b: ResolvedSchedule): boolean {
  if (a.kind === 'every') return b.kind === 'every' && a.everyMs === b.everyMs;
  return b.kind === 'cron' && a.pattern === b.pattern && a.tz === b.tz;
}

/** A schedule as {@link ScheduleInfo}. @internal */
export function scheduleInfo(entry: MemorySchedule): ScheduleInfo {
  const { spec } = entry;
  return {
    key: entry.key,
    name: entry.name,
    ...(spec.kind === 'every' ? { everyMs: spec.everyMs } : { pattern: spec.pattern, tz: spec.tz }),
    next: entry.next,
  };
}

/**
 * The recurring jobs of a memory queue, each on an unref'd timer: at each tick `onTick(entry, tick)` is called once
 * (the queue adds the tick's job) and the following tick is armed. `everyMs` ticks run on a grid from the first one
 * (at once, as BullMQ's), ticks missed while the event loop was stalled are skipped; cron ticks come from cron-parser.
 * @internal
 */
export class MemorySchedules {
  readonly #entries = new Map<string, MemorySchedule>();
  #stopped = false;

  constructor(
    private readonly queueName: string,
    private readonly onTick: (entry: MemorySchedule, tick: number) => void,
  ) {}

  /**
   * Creates or replaces a schedule; replacing one with the same timing keeps its next tick.
   * @throws {UnisocketError} `UNAVAILABLE` beyond {@link MAX_MEMORY_SCHEDULES}
   */
  set(entry: Omit<MemorySchedule, 'next' | 'timer'>): ScheduleInfo {
    const existing = this.#entries.get(entry.key);
    if (existing === undefined && this.#entries.size >= MAX_MEMORY_SCHEDULES) {
      throw unavailable(`queue ${this.queueName} holds ${MAX_MEMORY_SCHEDULES} schedules: unschedule some first`);
    }
    if (existing !== undefined) clearTimeout(existing.timer);
    const { spec } = entry;
    const now = Date.now();
    const next =
      existing !== undefined && sameSpec(existing.spec, spec)
        ? existing.next
        : spec.kind === 'every'
          ? now
          : nextCronTick(spec.pattern, spec.tz, now);
    const created: MemorySchedule = { ...entry, next, timer: undefined };
    this.#entries.set(entry.key, created);
    this.#arm(created);
    return scheduleInfo(created);
  }

  /** @returns `false` when there was none */
  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    clearTimeout(entry.timer);
    return this.#entries.delete(key);
  }

  list(): ScheduleInfo[] {
    return [...this.#entries.values()].map(scheduleInfo);
  }

  /** Clears every timer: no tick runs any more. */
  stop(): void {
    this.#stopped = true;
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
  }

  #arm(entry: MemorySchedule): void {
    const wait = entry.next - Date.now();
    entry.timer = setTimeout(
      () => {
        entry.timer = undefined;
        if (this.#stopped || this.#entries.get(entry.key) !== entry) return;
        if (entry.next > Date.now()) return this.#arm(entry); // a period longer than one timer
        this.#tick(entry);
      },
      Math.min(Math.max(wait, 0), MAX_TIMER_MS),
    );
    entry.timer.unref();
  }

  /** Runs tick `entry.next` and arms the following one. */
  #tick(entry: MemorySchedule): void {
    const tick = entry.next;
    const now = Date.now();
    if (entry.spec.kind === 'every') {
      const { everyMs } = entry.spec;
      // the next tick on the same grid; ticks missed (an event loop stalled for longer than a period) are skipped
      entry.next = tick + everyMs >= now ? tick + everyMs : now + everyMs - ((now - tick) % everyMs);
    } else {
      entry.next = nextCronTick(entry.spec.pattern, entry.spec.tz, Math.max(tick, now - 1));
    }
    this.#arm(entry);
    this.onTick(entry, tick);
  }
}
