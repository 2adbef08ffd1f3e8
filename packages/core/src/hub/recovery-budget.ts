/** Options of the per-node recovery budget ({@link HubOptions.recovery}). */
export interface RecoveryOptions {
  /**
   * Subscriptions replaying history at once on this node (reading it, then catching up with live messages). The
   * others wait in a FIFO queue: a reconnect storm is served in order instead of all at once, and every waiting
   * subscription costs no buffer until its turn.
   * @default 128
   */
  maxConcurrent?: number;
  /**
   * Subscriptions that may wait for a replay slot. A subscribe past it is refused with `UNAVAILABLE` (the client
   * retries, here or on another node). A waiting subscription whose connection closes leaves the queue.
   * @default 100_000
   */
  maxQueued?: number;
}

/** {@link RecoveryOptions} after validation. */
export interface ResolvedRecoveryOptions {
  maxConcurrent: number;
  maxQueued: number;
}

/** Defaults of {@link RecoveryOptions}. */
export const DEFAULT_RECOVERY_OPTIONS: Readonly<ResolvedRecoveryOptions> = { maxConcurrent: 128, maxQueued: 100_000 };

/**
 * Validates {@link RecoveryOptions}.
 * @throws {TypeError} that names the option and says what it must be
 */
export function resolveRecoveryOptions(given: RecoveryOptions | undefined): ResolvedRecoveryOptions {
  if (given === undefined) return { ...DEFAULT_RECOVERY_OPTIONS };
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new TypeError('recovery must be an object: { maxConcurrent?: number, maxQueued?: number }');
  }
  for (const key of Object.keys(given)) {
    if (key !== 'maxConcurrent' && key !== 'maxQueued') {
      throw new TypeError(`unknown option recovery.${key}; known options: maxConcurrent, maxQueued`);
    }
  }
  const { maxConcurrent = DEFAULT_RECOVERY_OPTIONS.maxConcurrent, maxQueued = DEFAULT_RECOVERY_OPTIONS.maxQueued } =
    given;
  if (typeof maxConcurrent !== 'number' || !Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
    throw new TypeError(`recovery.maxConcurrent must be an integer >= 1, got ${String(maxConcurrent)}`);
  }
  if (typeof maxQueued !== 'number' || !Number.isInteger(maxQueued) || maxQueued < 0) {
    throw new TypeError(
      `recovery.maxQueued must be an integer >= 0 (0: refuse instead of queueing), got ${String(maxQueued)}`,
    );
  }
  return { maxConcurrent, maxQueued };
}

/** What the recovery budget holds now, and what it did (see {@link Hub.recoveryStats}). */
export interface RecoveryBudgetStats {
  /** Replays running now. */
  active: number;
  /** Replays waiting for a slot now. */
  queued: number;
  /** The most replays that waited at once. */
  queuedPeak: number;
  /** Replays that had to wait for a slot. */
  waited: number;
  /** Subscribes refused because the queue was full. */
  refused: number;
}

/**
 * At most `maxConcurrent` tasks at once; the others wait in a bounded FIFO queue, keyed so that a waiting task can
 * be dropped (its subscription closed). A small internal queue rather than `p-limit`/`p-queue`: those are ESM-only
 * (core ships ESM and CJS), cannot drop a waiting task by key (p-queue only through an `AbortSignal` per task, which
 * costs an object and a listener per subscribe), and run tasks on a microtask, while an in-memory replay here must
 * stay synchronous. A `Map` is the queue: insertion-ordered, O(1) removal by key.
 */
export class RecoveryBudget<K> {
  readonly stats: RecoveryBudgetStats = { active: 0, queued: 0, queuedPeak: 0, waited: 0, refused: 0 };
  #options: ResolvedRecoveryOptions;
  readonly #alive: (key: K) => boolean;
  readonly #queue = new Map<K, () => void>();
  #draining = false;

  /** @param alive whether a waiting key still wants its task run (checked when its turn comes) */
  constructor(options: ResolvedRecoveryOptions, alive: (key: K) => boolean) {
    this.#options = options;
    this.#alive = alive;
  }

  get options(): Readonly<ResolvedRecoveryOptions> {
    return this.#options;
  }

  /**
   * Runs `task` now when a slot is free (synchronously), else queues it under `key`. The task must call
   * {@link release} exactly once when its replay is over.
   * @returns `false` when the queue is full: nothing was run or queued
   */
  run(key: K, task: () => void): boolean {
    const stats = this.stats;
    if (stats.active < this.#options.maxConcurrent && this.#queue.size === 0) {
      stats.active++;
      task();
      return true;
    }
    if (this.#queue.size >= this.#options.maxQueued) {
      stats.refused++;
      return false;
    }
    this.#queue.delete(key);
    this.#queue.set(key, task);
    stats.waited++;
    stats.queued = this.#queue.size;
    if (stats.queued > stats.queuedPeak) stats.queuedPeak = stats.queued;
    if (stats.active < this.#options.maxConcurrent) this.#drain();
    return true;
  }

  /** A task's replay is over: the next waiting one (still alive) runs. */
  release(): void {
    if (this.stats.active > 0) this.stats.active--;
    this.#drain();
  }

  /** Drops a waiting task (its subscription or connection closed); nothing when it is not waiting. */
  cancel(key: K): void {
    if (this.#queue.delete(key)) this.stats.queued = this.#queue.size;
  }

  /** New limits (a larger `maxConcurrent` starts waiting tasks at once). */
  configure(options: ResolvedRecoveryOptions): void {
    this.#options = options;
    this.#drain();
  }

  #drain(): void {
    // a task may release synchronously (an in-memory replay): the outer loop goes on instead of recursing
    if (this.#draining) return;
    this.#draining = true;
    try {
      const stats = this.stats;
      const queue = this.#queue;
      while (stats.active < this.#options.maxConcurrent && queue.size > 0) {
        const [key, task] = queue.entries().next().value as [K, () => void];
        queue.delete(key);
        stats.queued = queue.size;
        if (!this.#alive(key)) continue;
        stats.active++;
        task();
      }
    } finally {
      this.#draining = false;
    }
  }
}
