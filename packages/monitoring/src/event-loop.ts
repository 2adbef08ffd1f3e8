import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { round } from './latency';
import type { EventLoopLag } from './types';

/** Options of {@link EventLoopMonitor}. */
export interface EventLoopMonitorOptions {
  /**
   * The sampling timer's period, ms (`monitorEventLoopDelay`'s resolution). Delays are reported beyond it.
   * @default 20
   */
  resolutionMs?: number;
  /**
   * The window the figures cover, ms: every window the histogram is read and reset.
   * @default 5_000
   */
  windowMs?: number;
}

const ZERO: EventLoopLag = { meanMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, samples: 0 };

/**
 * Event-loop delay from `perf_hooks.monitorEventLoopDelay`, summarized per window. One sampling timer per monitor
 * (in libuv) and one unref'd window timer; nothing per message. {@link lag} reports, as delay beyond the timer
 * resolution, the worse (by p99) of the last complete window and the current one: a stall shows at once and stays
 * visible for a whole window after it.
 */
export class EventLoopMonitor {
  readonly resolutionMs: number;
  readonly windowMs: number;
  #histogram: IntervalHistogram | undefined;
  #timer: NodeJS.Timeout | undefined;
  #last: EventLoopLag | undefined;

  constructor(options: EventLoopMonitorOptions = {}) {
    this.resolutionMs = positive('eventLoop.resolutionMs', options.resolutionMs ?? 20);
    this.windowMs = positive('eventLoop.windowMs', options.windowMs ?? 5_000);
    if (this.windowMs < this.resolutionMs * 2) {
      throw new TypeError(
        `eventLoop.windowMs (${this.windowMs}) must be at least twice eventLoop.resolutionMs (${this.resolutionMs})`,
      );
    }
  }

  /** `true` between {@link start} and {@link stop}. */
  get running(): boolean {
    return this.#histogram !== undefined;
  }

  /** Starts measuring. Idempotent. */
  start(): this {
    if (this.#histogram !== undefined) return this;
    const histogram = monitorEventLoopDelay({ resolution: this.resolutionMs });
    histogram.enable();
    this.#histogram = histogram;
    this.#timer = setInterval(() => {
      this.#last = this.#read(histogram);
      histogram.reset();
    }, this.windowMs);
    this.#timer.unref();
    return this;
  }

  /** Stops measuring and releases the histogram. Idempotent. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#histogram !== undefined) this.#last = this.#read(this.#histogram);
    this.#histogram?.disable();
    this.#histogram = undefined;
  }

  /** The delay over the last complete window or the current one, whichever is worse (zeros when never started). */
  lag(): EventLoopLag {
    const current = this.#histogram === undefined ? undefined : this.#read(this.#histogram);
    const last = this.#last;
    if (current === undefined || current.samples === 0) return last ?? { ...ZERO };
    if (last === undefined || current.p99Ms >= last.p99Ms) return current;
    return last;
  }

  #read(h: IntervalHistogram): EventLoopLag {
    if (h.count === 0) return { ...ZERO };
    const beyond = (ns: number): number => round(Math.max(0, ns / 1e6 - this.resolutionMs));
    return {
      meanMs: beyond(h.mean),
      p50Ms: beyond(h.percentile(50)),
      p99Ms: beyond(h.percentile(99)),
      maxMs: beyond(h.max),
      samples: h.count,
    };
  }
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}
