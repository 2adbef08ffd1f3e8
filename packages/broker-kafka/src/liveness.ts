import type { BrokerState } from '@unisocket/core';
import type { Admin } from 'kafkajs';
import { describeError } from './connection';

/** The health watchdog's period at most (a quarter of `unavailableAfterMs` when that is shorter), in ms. */
const WATCHDOG_TICK_MS = 250;

/** A consumer quiet this long (at least; twice `fetchMaxWaitMs` when longer) makes the watchdog ask Kafka, in ms. */
const QUIET_BEFORE_PROBE_MS = 500;

/** What {@link Liveness} needs of its broker: its state, and the way to change it. */
export interface LivenessHost {
  /** The broker's state now. */
  state(): BrokerState;
  /** Why the broker is in its state now (its health's `detail`). */
  detail(): string | undefined;
  /** Moves the broker to `degraded` (with the reason) or back to `ready`. */
  setState(state: BrokerState, detail?: string): void;
  /** How long Kafka has left the produce request in flight unconfirmed, in ms (0 when none is). */
  unconfirmedMs(now: number): number;
  /** `true` once the broker is closing. */
  closing(): boolean;
}

/**
 * Outage detection of the Kafka broker: whether the consumer still hears from Kafka, whether Kafka confirms
 * publishes, and — when the consumer has been quiet for a moment — whether Kafka answers at all. A watchdog turns
 * the broker `degraded` with the reason, and `ready` again once everything works.
 */
export class Liveness {
  readonly #host: LivenessHost;
  /** Liveness checks only: without retries, so a refused connection fails at once (see `createProbeClient`). */
  readonly #probeAdmin: Admin;
  readonly #unavailableAfterMs: number;
  readonly #fetchMaxWaitMs: number;
  #lastAnswer = 0;
  #probing = false;
  /** The last liveness check failed: when it started, and why. */
  #probeFailure: { startedAt: number; message: string } | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  /** Why the consumer is not working (it stopped), or `undefined` while it works. */
  consumerProblem: string | undefined;

  constructor(
    host: LivenessHost,
    probeAdmin: Admin,
    settings: { readonly unavailableAfterMs: number; readonly fetchMaxWaitMs: number },
  ) {
    this.#host = host;
    this.#probeAdmin = probeAdmin;
    this.#unavailableAfterMs = settings.unavailableAfterMs;
    this.#fetchMaxWaitMs = settings.fetchMaxWaitMs;
  }

  /** The consumer heard from Kafka (any answer to any of its requests). */
  heard(): void {
    this.#lastAnswer = Date.now();
  }

  /** Starts the watchdog (Kafka counts as having just answered). */
  start(): void {
    this.#lastAnswer = Date.now();
    const tick = Math.max(50, Math.min(WATCHDOG_TICK_MS, Math.floor(this.#unavailableAfterMs / 4)));
    this.#watchdog = setInterval(() => {
      this.#probe();
      this.check();
    }, tick);
    this.#watchdog.unref();
  }

  /** Stops the watchdog. */
  stop(): void {
    clearInterval(this.#watchdog);
  }

  /**
   * Asks Kafka whether it is there (one metadata request, no retries) when the consumer has been quiet for a moment —
   * a healthy consumer hears from Kafka at least every `fetchMaxWaitMs`. A Kafka that crashed or stopped refuses the
   * connection, so this fails at once: the outage is reported within about a second instead of after
   * `unavailableAfterMs` of silence. One check at a time, at most one per watchdog tick.
   */
  #probe(): void {
    const now = Date.now();
    const quietMs = Math.max(QUIET_BEFORE_PROBE_MS, 2 * this.#fetchMaxWaitMs);
    if (this.#probing || this.#host.closing() || this.#host.state() === 'closed' || now - this.#lastAnswer < quietMs)
      return;
    this.#probing = true;
    this.#probeAdmin
      .describeCluster()
      .then(
        () => {
          this.#probeFailure = undefined;
        },
        (error: unknown) => {
          this.#probeFailure = { startedAt: now, message: `Kafka does not answer: ${describeError(error)}` };
        },
      )
      .finally(() => {
        this.#probing = false;
        this.check();
      });
  }

  /** Moves the broker to `degraded` with the current problem, or back to `ready` when there is none. */
  check(): void {
    const state = this.#host.state();
    if (state === 'closed' || state === 'connecting') return;
    const now = Date.now();
    const limit = this.#unavailableAfterMs;
    let problem = this.consumerProblem;
    // a failed check counts until the consumer hears from Kafka again: one broker of several refusing is no outage
    const failure = this.#probeFailure;
    if (problem === undefined && failure !== undefined && this.#lastAnswer <= failure.startedAt)
      problem = failure.message;
    if (problem === undefined && now - this.#lastAnswer > limit) {
      problem = `Kafka has not answered the consumer for ${now - this.#lastAnswer} ms`;
    }
    const unconfirmed = this.#host.unconfirmedMs(now);
    if (problem === undefined && unconfirmed > limit)
      problem = `Kafka has not confirmed a publish for ${unconfirmed} ms`;
    if (problem !== undefined) {
      if (state === 'ready' || this.#host.detail() !== problem) this.#host.setState('degraded', problem);
    } else if (state === 'degraded') {
      this.#host.setState('ready');
    }
  }
}
