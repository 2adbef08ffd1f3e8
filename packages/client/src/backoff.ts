/** How reconnect delays grow. */
export interface BackoffOptions {
  /** The cap of the first delay, in ms. */
  initialDelayMs: number;
  /** The largest delay, in ms. */
  maxDelayMs: number;
  /** How much the cap grows per failed attempt. */
  factor: number;
}

/**
 * Exponential backoff with full jitter: the delay before attempt `attempt` (1-based) is uniform in
 * `[0, min(maxDelayMs, initialDelayMs × factor^(attempt-1))]`. Full jitter spreads a crowd of clients that lost the
 * same server over the whole window instead of bringing them back in waves.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  // cap the exponent: factor^n overflows to Infinity long before it matters
  const cap = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** Math.min(exponent, 64));
  return Math.floor(random() * cap);
}
