import type { ResolvedBackoff } from './options';

/**
 * The wait before the next attempt, after `failures` failed attempts (1 after the first failure): `fixed` waits
 * `delayMs` every time; `exponential` waits `delayMs`, then twice as long after each further failure, capped at
 * `maxDelayMs` (BullMQ's exponential formula, `delayMs × 2^(failures − 1)`, plus the cap). Both queues use it: the
 * BullMQ queue through its worker's `settings.backoffStrategy`.
 */
export function backoffDelay(backoff: ResolvedBackoff, failures: number): number {
  if (backoff.type === 'fixed') return backoff.delayMs;
  const exponent = Math.min(Math.max(failures, 1) - 1, 64);
  return Math.min(backoff.maxDelayMs, backoff.delayMs * 2 ** exponent);
}

/** What decides whether a failed job is tried again. */
export interface RetryPolicy {
  /** Attempts allowed in total (`Infinity` with `retryForMs`). */
  readonly attempts: number;
  readonly backoff: ResolvedBackoff;
  /** Retry only while the next attempt would start within this many ms of `since`. */
  readonly retryForMs?: number | undefined;
  /** When the job was added, or resubmitted from the dead-letter queue (epoch ms). */
  readonly since: number;
}

/**
 * The wait before the next attempt of a job that just failed its `failures`-th attempt, or `undefined` when it must
 * not be tried again (its attempts are used up, or with `retryForMs` the next attempt would start after
 * `since + retryForMs`): then it fails for good and goes to the dead-letter queue.
 */
export function retryDelay(policy: RetryPolicy, failures: number, now = Date.now()): number | undefined {
  if (policy.retryForMs === undefined) {
    return failures < policy.attempts ? backoffDelay(policy.backoff, failures) : undefined;
  }
  const delay = backoffDelay(policy.backoff, failures);
  return now + delay <= policy.since + policy.retryForMs ? delay : undefined;
}
