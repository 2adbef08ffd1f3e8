/**
 * The reconnect advice of a graceful shutdown: each connection's 1001 close reason ends with
 * `; retry-after-ms=<n>`, a per-connection random delay in `[0, spreadMs]` after which the client should reconnect.
 * The whole crowd of a node that shuts down so comes back spread over the window, not all in the same millisecond.
 * Clients that do not know the key see the same 1001 "server shutting down" as before (the code is unchanged, the
 * reason stays well under the 123-byte limit).
 */
export const RECONNECT_ADVICE_KEY = 'retry-after-ms';

/** The largest advised delay a server sends, in ms (clients cap what they honour at their own maximum too). */
export const MAX_RECONNECT_SPREAD_MS = 60_000;

const ADVICE = /(?:^|[;\s])retry-after-ms=(\d{1,9})(?:$|[;\s])/;

/** `reason` with a reconnect advice of `delayMs` (an integer in `[0, MAX_RECONNECT_SPREAD_MS]`) appended. */
export function withReconnectAdvice(reason: string, delayMs: number): string {
  const ms = Math.max(0, Math.min(MAX_RECONNECT_SPREAD_MS, Math.floor(delayMs)));
  return reason === '' ? `${RECONNECT_ADVICE_KEY}=${ms}` : `${reason}; ${RECONNECT_ADVICE_KEY}=${ms}`;
}

/** The advised delay in a close reason, in ms; `undefined` when it carries none. */
export function readReconnectAdvice(reason: string): number | undefined {
  const match = ADVICE.exec(reason);
  return match === null ? undefined : Math.min(MAX_RECONNECT_SPREAD_MS, Number(match[1]));
}

/**
 * The spread of the reconnect advice when it is `'auto'`: about 2 reconnects per ms (`connections / 2` ms), at least
 * 1 s and at most 5 s — a small node's clients are back within a second, a large node's never wait more than 5 s.
 */
export function autoReconnectSpreadMs(connections: number): number {
  return Math.min(5_000, Math.max(1_000, Math.ceil(connections / 2)));
}

/**
 * Validates a reconnect spread option (`'auto'`, or an integer number of ms in `[0, MAX_RECONNECT_SPREAD_MS]`; `0`
 * sends no advice).
 * @throws {TypeError} that names the option and says what it must be
 */
export function resolveReconnectSpread(name: string, value: unknown): number | 'auto' {
  if (value === undefined || value === 'auto') return 'auto';
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_RECONNECT_SPREAD_MS) {
    throw new TypeError(
      `${name} must be 'auto' or an integer number of ms from 0 (no advice) to ${MAX_RECONNECT_SPREAD_MS}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * A close reason per connection for a shutdown: `reason` with a random advised delay in `[0, spread]` (the spread
 * resolved for `connections` when `'auto'`), or `reason` as it is when the spread is `0`.
 */
export function reconnectAdvice(
  reason: string,
  spread: number | 'auto',
  connections: number,
  random: () => number = Math.random,
): () => string {
  const ms = spread === 'auto' ? autoReconnectSpreadMs(connections) : spread;
  if (ms === 0) return () => reason;
  return () => withReconnectAdvice(reason, Math.floor(random() * (ms + 1)));
}
