import type { Job } from 'bullmq';
import { nextCronTick } from './options';

/** Due times a node watches at most to promote delayed jobs on time (beyond it, BullMQ's own timing applies). */
export const MAX_WAKE_TIMERS = 10_000;
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Promotes delayed BullMQ jobs at their due time. A worker blocked on Redis (`BZPOPMIN` with a timeout) wakes for a
 * due job only at Redis's timer resolution (up to 100 ms late at the default `hz` 10); the node that knows a due time
 * (it added the job, failed the attempt being retried, ran the previous tick) calls `promote(id)` then, and the worker
 * wakes at once. BullMQ's `promote` is atomic and moves only a job still delayed, so a promotion can neither run a job
 * twice nor early. Unref'd timers, at most {@link MAX_WAKE_TIMERS}. @internal
 */
export class DueJobPromoter {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #stopped = false;

  /**
   * @param promote - BullMQ's promote of one job that was due at `at`; it must skip a job now due later (a retry that
   *   failed again meanwhile and was delayed anew). Its failures (job not delayed any more, Redis away) are ignored
   */
  constructor(private readonly promote: (id: string, at: number) => Promise<unknown>) {}

  /** Promotes job `id` at `at` (epoch ms), replacing any earlier watch of that job. */
  at(id: string, at: number): void {
    if (this.#stopped) return;
    const existing = this.#timers.get(id);
    if (existing === undefined && this.#timers.size >= MAX_WAKE_TIMERS) return;
    clearTimeout(existing);
    const timer = setTimeout(
      () => {
        this.#timers.delete(id);
        if (Date.now() < at) return this.at(id, at); // a timer fired early, or a delay longer than one timer
        if (this.#stopped) return;
        // not delayed any more (already run, removed, promoted by another node): nothing to do
        this.promote(id, at).catch(() => {});
      },
      Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS),
    );
    timer.unref();
    this.#timers.set(id, timer);
  }

  /** Watches the tick after `tick` of schedule `key`, which BullMQ created when this tick's job became active. */
  afterTick(job: Pick<Job, 'opts'>, key: string, tick: number): void {
    const { repeat } = job.opts as { repeat?: { every?: number; pattern?: string; tz?: string } };
    try {
      const next =
        repeat?.every !== undefined
          ? tick + repeat.every
          : repeat?.pattern !== undefined
            ? nextCronTick(repeat.pattern, repeat.tz ?? 'UTC', tick)
            : undefined;
      if (next !== undefined && next > Date.now()) this.at(`repeat:${key}:${next}`, next);
    } catch {
      // a pattern this node cannot read: BullMQ's own timing applies
    }
  }

  /** Clears every timer; later calls do nothing. */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
