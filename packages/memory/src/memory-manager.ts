import { EventEmitter } from 'node:events';
import { type GcSource, type MemoryReading, heapPressureLimit, onMajorGc, readMemory } from './heap';

/** Memory pressure levels, lowest first. */
export const MEMORY_LEVELS = ['normal', 'warning', 'critical', 'emergency'] as const;
/** One of {@link MEMORY_LEVELS}. */
export type MemoryLevel = (typeof MEMORY_LEVELS)[number];

/** Thresholds of the levels above `normal`, in percent of the memory limit. */
export interface MemoryThresholds {
  /** @default 70 */
  warning: number;
  /** @default 85 */
  critical: number;
  /** @default 95 */
  emergency: number;
}

/** Defaults of {@link MemoryThresholds}. */
export const DEFAULT_MEMORY_THRESHOLDS: Readonly<MemoryThresholds> = { warning: 70, critical: 85, emergency: 95 };

/** Options of {@link MemoryManager}. */
export interface MemoryManagerOptions {
  /** Percent of the limit at which each level starts. Must increase: 0 < warning < critical < emergency <= 100. */
  thresholds?: Partial<MemoryThresholds>;
  /**
   * Percentage points the pressure must fall below a level's threshold to leave that level, so a level is not
   * entered and left on every sample around its threshold.
   * @default 5
   */
  hysteresis?: number;
  /**
   * How often memory is sampled, in ms (an unref'd timer: it never keeps the process alive).
   * @default 5_000
   */
  sampleIntervalMs?: number;
  /**
   * The heap size that counts as 100% pressure, in bytes.
   * @default 80% of the old generation's limit (V8's `heap_size_limit` minus the young generation's reserve), the most a
   *   process can hold for long before V8 aborts it for ineffective mark-compacts ({@link heapPressureLimit})
   */
  heapLimitBytes?: number;
  /**
   * An RSS budget in bytes (e.g. the container's memory limit). When set, the pressure is the larger of the heap's and
   * the RSS's percentage, so Buffers and other off-heap memory count too.
   * @default undefined (RSS is reported, not part of the pressure)
   */
  rssLimitBytes?: number;
  /**
   * Judge the heap by what remains after major garbage collections (live data) rather than by the heap in use, which
   * also holds garbage not yet collected. The heap in use still counts once it reaches the emergency threshold.
   * @default true
   */
  useGcReadings?: boolean;
  /** Where readings come from (tests pass fakes). @default {@link readMemory} */
  read?: () => MemoryReading;
  /** Where post-GC readings come from (tests pass fakes). @default {@link onMajorGc} */
  gc?: GcSource;
}

/** The state of memory at one sample. */
export interface MemoryStatus {
  level: MemoryLevel;
  /** The pressure the level follows, in percent: the larger of {@link heapPercent} and {@link rssPercent}. */
  pressure: number;
  /** The heap's percentage of `heapLimitBytes`: live data after the last major GC, or the old generation in use. */
  heapPercent: number;
  /** RSS in percent of `rssLimitBytes`, or `null` without one. */
  rssPercent: number | null;
  /** What `heapPercent` is based on: `gc` (the old generation after the last major GC) or `sample` (in use now). */
  heapSource: 'gc' | 'sample';
  /** The old generation after the last major GC, and when, or `null` before the first one. */
  lastGc: { oldGenerationUsed: number; at: number } | null;
  /** The raw reading. */
  reading: MemoryReading;
  /** Since when (epoch ms) the level holds. */
  levelSince: number;
  /** `true` when this sample changed the level. */
  changed: boolean;
}

/** A level change ({@link MemoryManager} `level` event). */
export interface MemoryLevelChange {
  from: MemoryLevel;
  to: MemoryLevel;
  status: MemoryStatus;
}

/** Events of {@link MemoryManager}. */
export interface MemoryManagerEvents {
  /** The level changed (one event per change, possibly skipping levels: normal → critical). */
  level: [change: MemoryLevelChange];
  /** A sample was taken (after the `level` event it may have caused). */
  sample: [status: MemoryStatus];
}

/**
 * Samples the process's memory on an interval and keeps a memory pressure level with hysteresis.
 *
 * The pressure is the old generation's use in percent of `heapLimitBytes` (by default 80% of the old generation's limit:
 * what a process can hold for long before V8 gives up), judged by the live data left after major garbage collections,
 * and optionally RSS against `rssLimitBytes`. A level is entered as soon as the pressure reaches its threshold, and left only when the pressure
 * falls `hysteresis` points below it. Every change emits `level`.
 *
 * @example
 * ```ts
 * const manager = new MemoryManager({ thresholds: { warning: 70, critical: 85, emergency: 95 } });
 * manager.on('level', ({ from, to, status }) => log(`memory ${from} -> ${to} at ${status.pressure}%`));
 * manager.start();
 * ```
 */
export class MemoryManager extends EventEmitter<MemoryManagerEvents> {
  readonly thresholds: Readonly<MemoryThresholds>;
  readonly hysteresis: number;
  readonly sampleIntervalMs: number;
  readonly heapLimitBytes: number;
  readonly rssLimitBytes: number | undefined;
  readonly #useGc: boolean;
  readonly #read: () => MemoryReading;
  readonly #gcSource: GcSource;
  #level: MemoryLevel = 'normal';
  #levelSince = Date.now();
  #lastGc: { oldGenerationUsed: number; at: number } | null = null;
  #status: MemoryStatus | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopGc: (() => void) | undefined;

  constructor(options: MemoryManagerOptions = {}) {
    super();
    const settings = resolveMemoryManagerOptions(options);
    this.thresholds = settings.thresholds;
    this.hysteresis = settings.hysteresis;
    this.sampleIntervalMs = settings.sampleIntervalMs;
    this.heapLimitBytes = settings.heapLimitBytes;
    this.rssLimitBytes = settings.rssLimitBytes;
    this.#useGc = options.useGcReadings ?? true;
    this.#read = options.read ?? readMemory;
    this.#gcSource = options.gc ?? onMajorGc;
  }

  /** The current level. */
  get level(): MemoryLevel {
    return this.#level;
  }

  /** The last sample's status (sampling now if there was none). */
  get status(): MemoryStatus {
    return this.#status ?? this.sample();
  }

  /** `true` while sampling on the interval. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts sampling every `sampleIntervalMs` (and listening to major GCs). Samples once at once. Idempotent. */
  start(): this {
    if (this.#timer !== undefined) return this;
    if (this.#useGc) {
      this.#stopGc = this.#gcSource((oldGenerationUsed, at) => {
        this.#lastGc = { oldGenerationUsed, at };
      });
    }
    this.#timer = setInterval(() => this.sample(), this.sampleIntervalMs);
    this.#timer.unref();
    this.sample();
    return this;
  }

  /** Stops sampling. The level stays as it was. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stopGc?.();
    this.#stopGc = undefined;
  }

  /** Samples now, updates the level (emitting `level` when it changes) and emits `sample`. */
  sample(): MemoryStatus {
    const reading = this.#read();
    const limit = this.heapLimitBytes;
    const inUse = (reading.oldGenerationUsed / limit) * 100;
    const lastGc = this.#lastGc;
    // the heap in use holds garbage until the next major GC: judge by the live data after the last one, unless the
    // heap in use is already at the emergency threshold (then V8 is about to run out whatever is garbage)
    const fromGc = this.#useGc && lastGc !== null && inUse < this.thresholds.emergency;
    const heapPercent = fromGc ? Math.min(inUse, (lastGc.oldGenerationUsed / limit) * 100) : inUse;
    const rssPercent = this.rssLimitBytes === undefined ? null : (reading.rss / this.rssLimitBytes) * 100;
    const pressure = Math.max(heapPercent, rssPercent ?? 0);
    const from = this.#level;
    const to = this.#nextLevel(from, pressure);
    if (to !== from) {
      this.#level = to;
      this.#levelSince = reading.at;
    }
    const status: MemoryStatus = {
      level: to,
      pressure: round1(pressure),
      heapPercent: round1(heapPercent),
      rssPercent: rssPercent === null ? null : round1(rssPercent),
      heapSource: fromGc ? 'gc' : 'sample',
      lastGc,
      reading,
      levelSince: this.#levelSince,
      changed: to !== from,
    };
    this.#status = status;
    if (to !== from) this.emit('level', { from, to, status });
    this.emit('sample', status);
    return status;
  }

  /** The level a pressure puts a process in, ignoring hysteresis. */
  levelFor(pressure: number): MemoryLevel {
    const t = this.thresholds;
    if (pressure >= t.emergency) return 'emergency';
    if (pressure >= t.critical) return 'critical';
    if (pressure >= t.warning) return 'warning';
    return 'normal';
  }

  #nextLevel(current: MemoryLevel, pressure: number): MemoryLevel {
    const up = this.levelFor(pressure);
    if (rank(up) > rank(current)) return up;
    // going down: a level is kept until the pressure is `hysteresis` below its threshold
    const down = this.levelFor(pressure + this.hysteresis);
    return rank(down) < rank(current) ? down : current;
  }
}

/** The position of a level in {@link MEMORY_LEVELS} (normal = 0). */
export function rank(level: MemoryLevel): number {
  return MEMORY_LEVELS.indexOf(level);
}

/** The numeric settings of a {@link MemoryManager}, validated and with their defaults. */
export interface ResolvedMemoryManagerOptions {
  thresholds: MemoryThresholds;
  hysteresis: number;
  sampleIntervalMs: number;
  heapLimitBytes: number;
  rssLimitBytes: number | undefined;
}

/**
 * Validates {@link MemoryManagerOptions} and fills their defaults without creating a manager (what the constructor
 * does first), throwing a `TypeError` that names the bad field.
 */
export function resolveMemoryManagerOptions(options: MemoryManagerOptions = {}): ResolvedMemoryManagerOptions {
  return {
    thresholds: resolveThresholds(options.thresholds),
    hysteresis: finite('hysteresis', options.hysteresis ?? 5, 0, 50),
    sampleIntervalMs: integer('sampleIntervalMs', options.sampleIntervalMs ?? 5_000, 1),
    heapLimitBytes: integer('heapLimitBytes', options.heapLimitBytes ?? heapPressureLimit(), 1),
    rssLimitBytes: options.rssLimitBytes === undefined ? undefined : integer('rssLimitBytes', options.rssLimitBytes, 1),
  };
}

/** Validates thresholds over the defaults, throwing a `TypeError` that says what to change. */
export function resolveThresholds(given: Partial<MemoryThresholds> | undefined): MemoryThresholds {
  if (given !== undefined && (typeof given !== 'object' || given === null)) {
    throw new TypeError('memory thresholds must be an object { warning, critical, emergency } of percentages');
  }
  const t = { ...DEFAULT_MEMORY_THRESHOLDS };
  for (const key of Object.keys(given ?? {}) as (keyof MemoryThresholds)[]) {
    if (!(key in DEFAULT_MEMORY_THRESHOLDS)) {
      throw new TypeError(`unknown memory threshold "${key}"; use warning, critical and emergency`);
    }
    const value = given![key];
    if (value === undefined) continue;
    t[key] = finite(`thresholds.${key}`, value, 0, 100);
  }
  if (!(t.warning > 0 && t.warning < t.critical && t.critical < t.emergency && t.emergency <= 100)) {
    throw new TypeError(
      `memory thresholds must increase within (0, 100]: warning (${t.warning}) < critical (${t.critical}) < emergency (${t.emergency})`,
    );
  }
  return t;
}

function finite(name: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new TypeError(`${name} must be a number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function integer(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new TypeError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
