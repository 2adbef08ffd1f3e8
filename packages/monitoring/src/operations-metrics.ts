import type { Metric, Registry } from 'prom-client';
import type { OperationsReading } from './operations';
import { BREAKER_STATES, QUEUE_JOB_STATES, type QueueCountsSource, type QueueJobCounts } from './types';

/** The operations metrics (circuit breakers, webhooks, job queues); part of `METRIC_NAMES`. */
export const OPERATIONS_METRIC_NAMES = [
  'unisocket_circuit_breaker_state',
  'unisocket_circuit_breaker_calls_total',
  'unisocket_webhook_deliveries_total',
  'unisocket_webhook_pending_events',
  'unisocket_queue_jobs',
] as const;

/** How long a scrape waits for `queueCounts()` by default, ms. */
export const DEFAULT_QUEUE_COUNTS_TIMEOUT_MS = 500;

type Sample = { labels: Record<string, string>; value: number };

/**
 * A metric whose samples are computed when the registry formats it (prom-client's metric interface: `get()`).
 * Unlike prom-client's `Gauge` it can have no sample at all without labels (a source that is absent shows nothing,
 * not a 0), and its reader may be async.
 */
class ComputedMetric {
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'gauge' | 'counter',
    readonly labelNames: string[],
    readonly read: () => Sample[] | Promise<Sample[]>,
  ) {}

  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { value: number; labels: Record<string, string> }[];
  }> {
    const values = await this.read();
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The values live in the service; nothing to reset here. */
  reset(): void {}
}

/** A `queueCounts()` call unanswered for this long is given up on: the next scrape calls again, ms. */
const ABANDON_CALL_AFTER_MS = 60_000;

type Counts = Record<string, QueueJobCounts>;

/**
 * Reads `queueCounts()` for a scrape, never waiting longer than the timeout. One call at a time: a scrape that comes
 * while an earlier call is still unanswered (Redis away) waits on that call instead of adding another, so a dead
 * Redis does not pile up one call per scrape; a call unanswered for a minute is given up on and a new one made.
 * @internal
 */
export class QueueCountsReader {
  readonly timeoutMs: number;
  readonly #source: QueueCountsSource;
  /** The call in flight, and when it started. */
  #call: { answer: Promise<Counts | undefined>; startedAt: number } | undefined;
  /** Scrapes waiting on the call in flight (each leaves on its timeout, so nothing accumulates on a dead call). */
  readonly #waiters = new Set<(counts: Counts | undefined) => void>();

  constructor(source: QueueCountsSource, timeoutMs: number = DEFAULT_QUEUE_COUNTS_TIMEOUT_MS) {
    if (typeof source !== 'function') {
      throw new TypeError(`queueCounts must be an async function returning { [queue]: counts }, got ${typeof source}`);
    }
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      throw new TypeError(`queueCountsTimeoutMs must be a positive number of ms, got ${String(timeoutMs)}`);
    }
    this.#source = source;
    this.timeoutMs = timeoutMs;
  }

  /** The counts, or `undefined` when the source rejected, answered garbage or did not answer within the timeout. */
  read(): Promise<Counts | undefined> {
    const now = Date.now();
    if (this.#call === undefined || now - this.#call.startedAt > ABANDON_CALL_AFTER_MS) this.#start(now);
    return new Promise((resolve) => {
      const waiter = (counts: Counts | undefined): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve(counts);
      };
      const timer = setTimeout(() => waiter(undefined), this.timeoutMs);
      timer.unref?.();
      this.#waiters.add(waiter);
    });
  }

  /** Calls the source once; its answer (never a rejection) goes to every waiting scrape. */
  #start(now: number): void {
    let answer: Promise<unknown>;
    try {
      answer = Promise.resolve(this.#source());
    } catch (err) {
      answer = Promise.reject(err);
    }
    const call = {
      answer: answer.then(
        (counts) => (isCountsRecord(counts) ? counts : undefined),
        () => undefined,
      ),
      startedAt: now,
    };
    this.#call = call;
    void call.answer.then((counts) => {
      if (this.#call !== call) return; // given up on: a newer call answers the waiters
      this.#call = undefined;
      for (const waiter of [...this.#waiters]) waiter(counts);
    });
  }
}

function isCountsRecord(value: unknown): value is Counts {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Registers the operations metrics in `registry`. `operations` answers the per-scrape reading of the operations
 * source (`undefined` without one; the scrape shares it); `queueCounts`, when given, is where `unisocket_queue_jobs`
 * comes from (else from the reading's `queues`).
 * @internal
 */
export function registerOperationsMetrics(
  registry: Registry,
  operations: () => OperationsReading | undefined,
  queueCounts: QueueCountsReader | undefined,
): void {
  const ok = (): Extract<OperationsReading, { ok: true }> | undefined => {
    const r = operations();
    return r?.ok === true ? r : undefined;
  };
  const add = (
    name: string,
    help: string,
    type: 'gauge' | 'counter',
    labelNames: string[],
    read: () => Sample[] | Promise<Sample[]>,
  ): void => {
    registry.registerMetric(new ComputedMetric(name, help, type, labelNames, read) as unknown as Metric);
  };

  add(
    'unisocket_circuit_breaker_state',
    'Circuit breaker state: 1 for the current state (closed, open, half-open, isolated), 0 for the others.',
    'gauge',
    ['breaker', 'state'],
    () => {
      const out: Sample[] = [];
      for (const b of ok()?.breakers ?? []) {
        for (const state of BREAKER_STATES)
          out.push({ labels: { breaker: b.name, state }, value: b.state === state ? 1 : 0 });
      }
      return out;
    },
  );
  add(
    'unisocket_circuit_breaker_calls_total',
    'Calls through a circuit breaker since it was created, by result: success, failure, rejected (refused while open or isolated).',
    'counter',
    ['breaker', 'result'],
    () => {
      const out: Sample[] = [];
      for (const b of ok()?.breakers ?? []) {
        if (finite(b.successes)) out.push({ labels: { breaker: b.name, result: 'success' }, value: b.successes });
        if (finite(b.failures)) out.push({ labels: { breaker: b.name, result: 'failure' }, value: b.failures });
        if (finite(b.rejected)) out.push({ labels: { breaker: b.name, result: 'rejected' }, value: b.rejected });
      }
      return out;
    },
  );
  add(
    'unisocket_webhook_deliveries_total',
    'Webhook deliveries by result: delivered (a receiver accepted it), failed (retries exhausted: in the dead-letter queue), dropped (never sent).',
    'counter',
    ['result'],
    () => {
      const w = ok()?.webhooks;
      if (w === undefined) return [];
      const out: Sample[] = [];
      if (finite(w.delivered)) out.push({ labels: { result: 'delivered' }, value: w.delivered });
      if (finite(w.failed)) out.push({ labels: { result: 'failed' }, value: w.failed });
      if (finite(w.dropped)) out.push({ labels: { result: 'dropped' }, value: w.dropped });
      return out;
    },
  );
  add(
    'unisocket_webhook_pending_events',
    'Webhook events waiting to be sent (batched, delayed or being retried).',
    'gauge',
    [],
    () => {
      const pending = ok()?.webhooks?.pendingEvents;
      return finite(pending) ? [{ labels: {}, value: pending }] : [];
    },
  );
  add(
    'unisocket_queue_jobs',
    'Jobs per queue and state (waiting, delayed, active, completed, failed = the dead-letter queue). Left out of a scrape when the queue does not answer in time.',
    'gauge',
    ['queue', 'state'],
    () => (queueCounts === undefined ? queueSamples(ok()?.queues) : queueCounts.read().then(queueSamples)),
  );
}

function queueSamples(queues: Readonly<Record<string, QueueJobCounts>> | undefined): Sample[] {
  const out: Sample[] = [];
  if (queues === undefined) return out;
  for (const [queue, counts] of Object.entries(queues)) {
    if (counts === null || typeof counts !== 'object') continue;
    for (const state of QUEUE_JOB_STATES) {
      const v = counts[state];
      if (finite(v)) out.push({ labels: { queue, state }, value: v });
    }
  }
  return out;
}
