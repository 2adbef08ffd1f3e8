import type { BreakerStatus, OperationsSource, QueueJobCounts, WebhookStats } from './types';

/** What one read of an {@link OperationsSource} gave: copies the caller may keep, or why it failed. */
export type OperationsReading =
  | {
      ok: true;
      breakers: BreakerStatus[];
      webhooks: WebhookStats | undefined;
      queues: Record<string, QueueJobCounts> | undefined;
    }
  | { ok: false; error: string };

/** @internal Throws a `TypeError` naming the option unless `value` is a function or undefined. */
export function assertSourceFunction(name: string, value: unknown, shape: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`${name} must be a function returning ${shape}, got ${typeof value}`);
  }
}

/**
 * @internal Reads the operations source once and copies what it answered (so a caller's later mutation of its own
 * objects does not show through, and a stats or health object is safe to serialize). A source that throws, or
 * answers something without a `breakers` array, gives `{ ok: false, error }` instead of throwing: a health check,
 * `getStats()` or scrape never fails because of it.
 */
export function readOperations(source: OperationsSource): OperationsReading {
  try {
    const snapshot = source();
    if (snapshot === null || typeof snapshot !== 'object' || !Array.isArray(snapshot.breakers)) {
      return { ok: false, error: 'it must answer { breakers: [...], webhooks?, queues? }' };
    }
    return {
      ok: true,
      breakers: snapshot.breakers.map((b) => ({
        name: String(b.name),
        state: b.state,
        since: b.since,
        failures: b.failures,
        successes: b.successes,
        rejected: b.rejected,
      })),
      webhooks: snapshot.webhooks === undefined ? undefined : { ...snapshot.webhooks },
      queues: snapshot.queues === undefined ? undefined : copyQueueCounts(snapshot.queues),
    };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/** @internal A copy of per-queue job counts. */
export function copyQueueCounts(queues: Readonly<Record<string, QueueJobCounts>>): Record<string, QueueJobCounts> {
  const out: Record<string, QueueJobCounts> = {};
  for (const [name, counts] of Object.entries(queues)) out[name] = { ...counts };
  return out;
}

/** The prefix of the breakers that guard a job queue: while one is open, the queue cannot take jobs. */
export const QUEUE_BREAKER_PREFIX = 'queue:';
