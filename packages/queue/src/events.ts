import { EventEmitter } from 'node:events';
import type { QueueEvents } from './types';
import { messageOf } from './util';

/** The same `error` message is reported at most once in this window. */
export const ERROR_REPORT_WINDOW_MS = 10_000;
const MAX_REMEMBERED_ERRORS = 100;

type OperationalEvent = Exclude<keyof QueueEvents, 'error'>;

/**
 * The event side of both queues: typed {@link QueueEvents}, listeners that throw are reported as `error` instead of
 * breaking the job that emitted, and `error` is emitted only when listened to (never thrown) and at most once per
 * message every 10 s (a Redis outage repeats the same error on every reconnection attempt).
 */
export abstract class QueueEventEmitter extends EventEmitter<QueueEvents> {
  readonly #reported = new Map<string, number>();

  /** Emits an operational event; a listener that throws is reported as `error`. @internal */
  protected emitEvent<E extends OperationalEvent>(event: E, ...args: QueueEvents[E]): void {
    if (this.listenerCount(event) === 0) return;
    try {
      (this.emit as (event: string, ...args: unknown[]) => boolean)(event, ...args);
    } catch (error) {
      this.reportError(new Error(`a "${event}" listener threw: ${messageOf(error)}`, { cause: error }));
    }
  }

  /** Emits `error` when listened to, at most once per message every 10 s. @internal */
  protected reportError(error: Error): void {
    if (this.listenerCount('error') === 0) return;
    const now = Date.now();
    const last = this.#reported.get(error.message);
    if (last !== undefined && now - last < ERROR_REPORT_WINDOW_MS) return;
    if (this.#reported.size >= MAX_REMEMBERED_ERRORS) this.#reported.clear();
    this.#reported.set(error.message, now);
    try {
      this.emit('error', error);
    } catch {
      // an `error` listener that throws has nowhere left to report to
    }
  }
}
