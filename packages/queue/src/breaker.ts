import { EventEmitter } from 'node:events';
import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
  IsolatedCircuitError,
} from 'cockatiel';
import type { BreakerOptions, BreakerSnapshot, BreakerState } from './types';
import { unavailable } from './util';

/** The defaults of {@link BreakerOptions}: 5 consecutive failures open a breaker, which tries again after 10 s. */
export const DEFAULT_BREAKER_OPTIONS: Readonly<Required<BreakerOptions>> = {
  failureThreshold: 5,
  halfOpenAfterMs: 10_000,
};

/** A breaker's transition, as {@link BreakerRegistry} emits it (`circuit-breaker-state-changed`). */
export interface BreakerStateChange {
  readonly name: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** When (epoch ms). */
  readonly at: number;
}

/** Events of {@link BreakerRegistry}. */
export interface BreakerRegistryEvents {
  /** A breaker of the registry changed state (every transition, in order). */
  'circuit-breaker-state-changed': [change: BreakerStateChange];
  /** A `circuit-breaker-state-changed` listener threw (emitted only when listened to). */
  error: [error: Error];
}

const STATES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

/**
 * Validates {@link BreakerOptions} and fills the defaults.
 * @throws {TypeError} saying what to change
 */
export function resolveBreakerOptions(options: BreakerOptions = {}): Required<BreakerOptions> {
  const failureThreshold = options.failureThreshold ?? DEFAULT_BREAKER_OPTIONS.failureThreshold;
  const halfOpenAfterMs = options.halfOpenAfterMs ?? DEFAULT_BREAKER_OPTIONS.halfOpenAfterMs;
  if (!Number.isInteger(failureThreshold) || failureThreshold < 1 || failureThreshold > 1_000_000) {
    throw new TypeError(`failureThreshold must be an integer from 1 to 1000000, got ${String(failureThreshold)}`);
  }
  if (!Number.isInteger(halfOpenAfterMs) || halfOpenAfterMs < 1 || halfOpenAfterMs > 86_400_000) {
    throw new TypeError(
      `halfOpenAfterMs must be an integer from 1 to 86400000 (1 day), got ${String(halfOpenAfterMs)}`,
    );
  }
  return { failureThreshold, halfOpenAfterMs };
}

/**
 * A circuit breaker: cockatiel's `circuitBreaker(handleAll, { halfOpenAfter, breaker: new ConsecutiveBreaker(n) })`
 * with a name, counters and unisocket's errors. Closed, it runs every call; `failureThreshold` consecutive failures
 * open it; open, it refuses calls at once (`UNAVAILABLE`) until `halfOpenAfterMs` have passed; the next call is then
 * the trial (half-open): its success closes the breaker, its failure opens it again.
 */
export class Breaker {
  /** The breaker's name (e.g. `queue:<name>`, `webhook:<endpoint>`). */
  readonly name: string;
  /** Its thresholds. */
  readonly options: Readonly<Required<BreakerOptions>>;
  readonly #policy: CircuitBreakerPolicy;
  #state: BreakerState = 'closed';
  #since = Date.now();
  #openedAt = 0;
  #failures = 0;
  #successes = 0;
  #rejected = 0;

  /**
   * @param onChange - called on every transition (what {@link BreakerRegistry} emits)
   * @throws {TypeError} for bad options
   */
  constructor(name: string, options: BreakerOptions = {}, onChange?: (change: BreakerStateChange) => void) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new TypeError(`a breaker name must be a non-empty string, got ${JSON.stringify(name)}`);
    }
    this.name = name;
    this.options = Object.freeze(resolveBreakerOptions(options));
    this.#policy = circuitBreaker(handleAll, {
      halfOpenAfter: this.options.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(this.options.failureThreshold),
    });
    this.#policy.onSuccess(() => {
      this.#successes++;
    });
    this.#policy.onFailure(() => {
      this.#failures++;
    });
    this.#policy.onStateChange((next) => {
      const from = this.#state;
      const to = STATES[next];
      const at = Date.now();
      this.#state = to;
      this.#since = at;
      if (to === 'open') this.#openedAt = at;
      onChange?.({ name: this.name, from, to, at });
    });
  }

  /** The current state (`open` stays `open` past `halfOpenAfterMs` until a call makes the trial). */
  get state(): BreakerState {
    return this.#state;
  }

  /** When an open breaker lets its next call through as the trial (epoch ms); `undefined` when not open. */
  get nextTrialAt(): number | undefined {
    return this.#state === 'open' ? this.#openedAt + this.options.halfOpenAfterMs : undefined;
  }

  /**
   * Runs `fn` through the breaker.
   * @throws {UnisocketError} `UNAVAILABLE` at once when the breaker is open or isolated; otherwise what `fn` throws
   */
  async execute<T>(fn: () => Promise<T> | T): Promise<T> {
    try {
      return await this.#policy.execute(() => fn());
    } catch (error) {
      // instanceof, not cockatiel 3.2's isIsolatedCircuitError (which tests for a bulkhead error's marker)
      if (error instanceof IsolatedCircuitError) {
        this.#rejected++;
        throw unavailable(`circuit breaker ${this.name} is isolated (held open by hand): dispose its isolation`, error);
      }
      if (error instanceof BrokenCircuitError) {
        this.#rejected++;
        const inMs = Math.max(0, (this.nextTrialAt ?? Date.now()) - Date.now());
        throw unavailable(`circuit breaker ${this.name} is open; next trial in ${inMs} ms`, error);
      }
      throw error;
    }
  }

  /** Holds the breaker open (state `isolated`) until the returned handle is disposed (e.g. for maintenance). */
  isolate(): { dispose(): void } {
    return this.#policy.isolate();
  }

  /** The breaker's state and counters (for health, stats, metrics). */
  snapshot(): BreakerSnapshot {
    const nextTrialAt = this.nextTrialAt;
    return {
      name: this.name,
      state: this.#state,
      since: this.#since,
      failures: this.#failures,
      successes: this.#successes,
      rejected: this.#rejected,
      failureThreshold: this.options.failureThreshold,
      halfOpenAfterMs: this.options.halfOpenAfterMs,
      ...(nextTrialAt === undefined ? {} : { nextTrialAt }),
    };
  }
}

/** Options of {@link BreakerRegistry}. */
export interface BreakerRegistryOptions {
  /** Thresholds of the breakers created without options of their own. @default {@link DEFAULT_BREAKER_OPTIONS} */
  defaults?: BreakerOptions;
  /** Breakers kept at most: {@link BreakerRegistry.get} of a new name beyond it is refused. @default 10_000 */
  maxBreakers?: number;
}

/**
 * The breakers of a service, by name: creates them on first use, lists their snapshots (for `/health`, `/stats`,
 * `/metrics`) and emits `circuit-breaker-state-changed` (`{ name, from, to, at }`) on every transition of any of them.
 */
export class BreakerRegistry extends EventEmitter<BreakerRegistryEvents> {
  readonly #breakers = new Map<string, Breaker>();
  readonly #defaults: Required<BreakerOptions>;
  readonly #max: number;

  /** @throws {TypeError} for bad options */
  constructor(options: BreakerRegistryOptions = {}) {
    super();
    this.#defaults = resolveBreakerOptions(options.defaults);
    const max = options.maxBreakers ?? 10_000;
    if (!Number.isInteger(max) || max < 1) throw new TypeError(`maxBreakers must be a positive integer, got ${max}`);
    this.#max = max;
  }

  /** How many breakers the registry holds. */
  get size(): number {
    return this.#breakers.size;
  }

  /**
   * The breaker `name`, created with `options` (over the registry's defaults) when it does not exist yet; an existing
   * breaker keeps the options it was created with.
   * @throws {TypeError} for a bad name or options
   * @throws {UnisocketError} `UNAVAILABLE` when `maxBreakers` breakers exist already
   */
  get(name: string, options?: BreakerOptions): Breaker {
    const existing = this.#breakers.get(name);
    if (existing !== undefined) return existing;
    if (this.#breakers.size >= this.#max) {
      throw unavailable(
        `the breaker registry holds ${this.#max} breakers already: delete() the ones no longer used, or raise maxBreakers`,
      );
    }
    const breaker: Breaker = new Breaker(name, { ...this.#defaults, ...options }, (change) => {
      // a deleted breaker (or the one it was replaced by) no longer speaks for the name
      if (this.#breakers.get(name) === breaker) this.#changed(change);
    });
    this.#breakers.set(name, breaker);
    return breaker;
  }

  /** The breaker `name`, if it exists (never creates it). */
  peek(name: string): Breaker | undefined {
    return this.#breakers.get(name);
  }

  /** Snapshots of every breaker, by name. */
  list(): BreakerSnapshot[] {
    return [...this.#breakers.values()]
      .map((breaker) => breaker.snapshot())
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Forgets a breaker (its later transitions are no longer emitted).
   * @returns `false` when there was none
   */
  delete(name: string): boolean {
    return this.#breakers.delete(name);
  }

  #changed(change: BreakerStateChange): void {
    try {
      this.emit('circuit-breaker-state-changed', change);
    } catch (error) {
      if (this.listenerCount('error') > 0)
        this.emit('error', error instanceof Error ? error : new Error(String(error)));
    }
  }
}
