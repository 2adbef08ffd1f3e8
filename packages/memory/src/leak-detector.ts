import { EventEmitter } from 'node:events';
import { CircularBuffer } from './circular-buffer';
import { type GcSource, oldGenerationUsed, onMajorGc } from './heap';

/** Options of {@link LeakDetector}. */
export interface LeakDetectorOptions {
  /**
   * The window the trend is judged over, in ms.
   * @default 600_000 (10 minutes)
   */
  windowMs?: number;
  /**
   * How many low points the window holds: the window is cut into this many buckets and each keeps its lowest reading.
   * @default 20 (one per 30 s over 10 minutes)
   */
  buckets?: number;
  /**
   * Low points needed before anything is judged. The default waits for a full window: judged earlier, the start of a
   * warm-up (caches filling) looks exactly like a leak.
   * @default buckets
   */
  minBuckets?: number;
  /**
   * The least growth over the window (of the fitted line) reported as a leak, in bytes.
   * @default 8_388_608 (8 MiB)
   */
  minGrowthBytes?: number;
  /**
   * The least growth over the window reported as a leak, in percent of where the fitted line starts.
   * @default 10
   */
  minGrowthPercent?: number;
  /**
   * How well a straight line must fit the low points (coefficient of determination): a sustained trend, not noise.
   * @default 0.8
   */
  minR2?: number;
  /**
   * How often the heap is read between GCs, in ms (readings taken between major GCs hold garbage; they matter only in
   * buckets without a GC).
   * @default a quarter of a bucket
   */
  sampleIntervalMs?: number;
  /**
   * The sizes of the structures that might leak (connections, channels, history messages, buffered bytes...), read at
   * each low point. Their trends are compared with the heap's to name suspects.
   */
  suspects?: () => Record<string, number>;
  /** How the heap is read (tests pass fakes). @default the old generation in use */
  read?: () => number;
  /** Where post-GC readings come from (tests pass fakes). @default {@link onMajorGc} */
  gc?: GcSource;
  /** The clock (tests pass fakes). @default Date.now */
  now?: () => number;
}

/** How one tracked structure moved over the window. */
export interface SuspectTrend {
  name: string;
  first: number;
  last: number;
  growth: number;
  /** Growth in percent of `first` (`Infinity` from 0). */
  growthPercent: number;
  /** Grew by at least 10% (and at least 1) over the window. */
  growing: boolean;
}

/** What {@link LeakDetector.analyze} concluded. */
export interface LeakAnalysis {
  /** A sustained upward trend of the post-GC heap was found. */
  suspected: boolean;
  /** How it was judged (see the package README). */
  method: 'linear regression of post-GC heap low points';
  /** Why it is or is not suspected, in one sentence. */
  reason: string;
  /** Low points in the window. */
  samples: number;
  spanMs: number;
  /** The fitted line at the start and end of the window, in bytes. */
  baselineBytes: number;
  latestBytes: number;
  growthBytes: number;
  growthPercent: number;
  slopeBytesPerMinute: number;
  /** The slope over the most recent half of the window (a trend that stopped is a plateau, not a leak). */
  recentSlopeBytesPerMinute: number;
  r2: number;
  /** The tracked structures, the fastest-growing first. */
  suspects: SuspectTrend[];
  at: number;
}

/** Events of {@link LeakDetector}. */
export interface LeakDetectorEvents {
  /** A leak became suspected. */
  leak: [analysis: LeakAnalysis];
  /** A suspected leak is no longer (the trend stopped or reversed). */
  cleared: [analysis: LeakAnalysis];
  /** A low point was recorded and analyzed. */
  analysis: [analysis: LeakAnalysis];
}

interface LowPoint {
  at: number;
  bytes: number;
  suspects: Record<string, number>;
}

/**
 * Watches the heap for a sustained upward trend and names the structures growing with it.
 *
 * Method: the heap that matters is what survives garbage collection, so the detector listens to major GCs
 * (`PerformanceObserver` on `gc` entries) and reads the old generation right after each; it also reads the heap on an
 * interval. The window is cut into buckets and each bucket keeps its lowest reading (after a GC when there was one):
 * the "low points". A least-squares line through the low points of the window is a leak when it rises by at least
 * `minGrowthBytes` and `minGrowthPercent`, fits well (`R² >= minR2`), and still rises over the recent half of the window
 * (at least half the overall slope: a warm-up that levels off is not a leak). The `suspects` callback is read at each low
 * point; the structures that grew over the window are named in the report.
 */
export class LeakDetector extends EventEmitter<LeakDetectorEvents> {
  readonly windowMs: number;
  readonly bucketMs: number;
  readonly #o: Required<Omit<LeakDetectorOptions, 'suspects' | 'read' | 'gc' | 'now' | 'windowMs' | 'buckets'>>;
  readonly #suspects: (() => Record<string, number>) | undefined;
  readonly #read: () => number;
  readonly #gc: GcSource;
  readonly #now: () => number;
  readonly #points: CircularBuffer<LowPoint>;
  #bucketStart = -1;
  #bucketMin = Infinity;
  #bucketMinAt = 0;
  #suspected = false;
  #last: LeakAnalysis | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopGc: (() => void) | undefined;

  constructor(options: LeakDetectorOptions = {}) {
    super();
    const settings = resolveLeakDetectorOptions(options);
    const { windowMs, buckets, bucketMs, ...thresholds } = settings;
    this.windowMs = windowMs;
    this.bucketMs = bucketMs;
    this.#o = thresholds;
    this.#suspects = options.suspects;
    this.#read = options.read ?? oldGenerationUsed;
    this.#gc = options.gc ?? onMajorGc;
    this.#now = options.now ?? Date.now;
    this.#points = new CircularBuffer(buckets);
  }

  /** `true` while a leak is suspected. */
  get suspected(): boolean {
    return this.#suspected;
  }

  /** The last analysis (analyzing now if there was none). */
  get lastAnalysis(): LeakAnalysis {
    return this.#last ?? this.analyze();
  }

  /** Starts listening to GCs and reading the heap on an unref'd interval. Idempotent. */
  start(): this {
    if (this.#timer !== undefined) return this;
    this.#stopGc = this.#gc((bytes, at) => this.record(bytes, at));
    this.#timer = setInterval(() => this.record(this.#read()), this.#o.sampleIntervalMs);
    this.#timer.unref();
    return this;
  }

  /** Stops listening and reading. What was recorded stays. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stopGc?.();
    this.#stopGc = undefined;
  }

  /** Forgets every low point (e.g. after a deliberate change of the workload). */
  reset(): void {
    this.#points.clear();
    this.#bucketStart = -1;
    this.#bucketMin = Infinity;
    this.#setSuspected(false, this.analyze());
  }

  /**
   * Records a heap reading (bytes of old generation in use, ideally right after a GC). Closes the current bucket when
   * its time is up, which records a low point and analyzes the window.
   */
  record(bytes: number, at: number = this.#now()): void {
    if (this.#bucketStart < 0) this.#bucketStart = at;
    while (at >= this.#bucketStart + this.bucketMs) {
      if (this.#bucketMin !== Infinity) this.#closeBucket();
      this.#bucketStart += this.bucketMs;
      // after a long pause, start the next bucket where the time is
      if (at >= this.#bucketStart + this.bucketMs * 2)
        this.#bucketStart = at - ((at - this.#bucketStart) % this.bucketMs);
    }
    if (bytes < this.#bucketMin) {
      this.#bucketMin = bytes;
      this.#bucketMinAt = at;
    }
  }

  /** Judges the low points of the window now. */
  analyze(): LeakAnalysis {
    const at = this.#now();
    const points = this.#points.toArray().filter((p) => p.at >= at - this.windowMs - this.bucketMs);
    const n = points.length;
    const base: LeakAnalysis = {
      suspected: false,
      method: 'linear regression of post-GC heap low points',
      reason: '',
      samples: n,
      spanMs: n > 1 ? points[n - 1]!.at - points[0]!.at : 0,
      baselineBytes: n > 0 ? points[0]!.bytes : 0,
      latestBytes: n > 0 ? points[n - 1]!.bytes : 0,
      growthBytes: 0,
      growthPercent: 0,
      slopeBytesPerMinute: 0,
      recentSlopeBytesPerMinute: 0,
      r2: 0,
      suspects: trends(points),
      at,
    };
    if (n < this.#o.minBuckets) {
      base.reason = `collecting low points (${n} of ${this.#o.minBuckets} needed)`;
      return base;
    }
    const t0 = points[0]!.at;
    const fit = linearFit(
      points.map((p) => (p.at - t0) / 60_000),
      points.map((p) => p.bytes),
    );
    const half = points.slice(Math.floor(n / 2));
    const recent = linearFit(
      half.map((p) => (p.at - t0) / 60_000),
      half.map((p) => p.bytes),
    );
    const spanMin = base.spanMs / 60_000;
    const baseline = fit.intercept;
    const growth = fit.slope * spanMin;
    base.baselineBytes = Math.round(baseline);
    base.latestBytes = Math.round(baseline + growth);
    base.growthBytes = Math.round(growth);
    base.growthPercent = baseline > 0 ? round1((growth / baseline) * 100) : 0;
    base.slopeBytesPerMinute = Math.round(fit.slope);
    base.recentSlopeBytesPerMinute = Math.round(recent.slope);
    base.r2 = Math.round(fit.r2 * 1000) / 1000;
    const o = this.#o;
    const over = base.spanMs < 90_000 ? `${round1(base.spanMs / 1000)} s` : `${round1(spanMin)} min`;
    const trend = `the post-GC heap ${growth >= 0 ? 'grew' : 'shrank'} ${mib(Math.abs(growth))} (${base.growthPercent}%) over ${over}, R²=${base.r2}`;
    if (growth < o.minGrowthBytes || base.growthPercent < o.minGrowthPercent) {
      base.reason = `no leak: ${trend}, under the ${mib(o.minGrowthBytes)} / ${o.minGrowthPercent}% bounds`;
    } else if (fit.r2 < o.minR2) {
      base.reason = `no leak: ${trend}, too irregular for a sustained trend (R² < ${o.minR2})`;
    } else if (recent.slope < fit.slope / 2) {
      base.reason = `no leak: ${trend}, but it levelled off over the recent half of the window`;
    } else {
      base.suspected = true;
      const growing = base.suspects.filter((s) => s.growing);
      base.reason =
        `leak suspected: ${trend}, ${mib(fit.slope)}/min; ` +
        (growing.length > 0
          ? `growing with it: ${growing.map((s) => `${s.name} ${s.first} -> ${s.last}`).join(', ')}`
          : 'none of the tracked structures grew: look outside them (application code, a dependency)');
    }
    return base;
  }

  #closeBucket(): void {
    let suspects: Record<string, number> = {};
    try {
      suspects = this.#suspects?.() ?? {};
    } catch {
      // a failing callback must not stop the detector
    }
    this.#points.push({ at: this.#bucketMinAt, bytes: this.#bucketMin, suspects });
    this.#bucketMin = Infinity;
    const analysis = this.analyze();
    this.#last = analysis;
    this.#setSuspected(analysis.suspected, analysis);
    this.emit('analysis', analysis);
  }

  #setSuspected(suspected: boolean, analysis: LeakAnalysis): void {
    this.#last = analysis;
    if (suspected === this.#suspected) return;
    this.#suspected = suspected;
    this.emit(suspected ? 'leak' : 'cleared', analysis);
  }
}

/** A least-squares line through points: `y = intercept + slope * x`, and its coefficient of determination. */
export function linearFit(
  xs: readonly number[],
  ys: readonly number[],
): { slope: number; intercept: number; r2: number } {
  const n = xs.length;
  if (n === 0 || n !== ys.length) return { slope: 0, intercept: 0, r2: 0 };
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i]!;
    sy += ys[i]!;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (sxx === 0) return { slope: 0, intercept: my, r2: 0 };
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept: my - slope * mx, r2 };
}

function trends(points: LowPoint[]): SuspectTrend[] {
  if (points.length === 0) return [];
  const first = points[0]!.suspects;
  const last = points[points.length - 1]!.suspects;
  const out: SuspectTrend[] = [];
  for (const name of Object.keys(last)) {
    const a = first[name] ?? 0;
    const b = last[name]!;
    const growth = b - a;
    const growthPercent = a === 0 ? (b === 0 ? 0 : Infinity) : round1((growth / a) * 100);
    out.push({ name, first: a, last: b, growth, growthPercent, growing: growth >= 1 && growthPercent >= 10 });
  }
  return out.sort((x, y) => y.growthPercent - x.growthPercent || y.growth - x.growth);
}

function mib(bytes: number): string {
  return `${round1(bytes / (1024 * 1024))} MiB`;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${name} must be a number >= 0, got ${String(value)}`);
  }
  return value;
}

/** The settings of a {@link LeakDetector}, validated and with their defaults. */
export interface ResolvedLeakDetectorOptions {
  windowMs: number;
  buckets: number;
  bucketMs: number;
  minBuckets: number;
  minGrowthBytes: number;
  minGrowthPercent: number;
  minR2: number;
  sampleIntervalMs: number;
}

/**
 * Validates {@link LeakDetectorOptions} and fills their defaults without creating a detector (what the constructor
 * does first), throwing a `TypeError` that names the bad field.
 */
export function resolveLeakDetectorOptions(options: LeakDetectorOptions = {}): ResolvedLeakDetectorOptions {
  const windowMs = positive('windowMs', options.windowMs ?? 600_000);
  const buckets = positive('buckets', options.buckets ?? 20);
  if (buckets < 3) throw new TypeError(`buckets must be at least 3, got ${buckets}`);
  const bucketMs = Math.max(1, Math.floor(windowMs / buckets));
  const minBuckets = positive('minBuckets', options.minBuckets ?? buckets);
  if (minBuckets < 3 || minBuckets > buckets) {
    throw new TypeError(`minBuckets must be from 3 to buckets (${buckets}), got ${minBuckets}`);
  }
  const minR2 = options.minR2 ?? 0.8;
  if (!(minR2 >= 0 && minR2 <= 1)) throw new TypeError(`minR2 must be from 0 to 1, got ${String(options.minR2)}`);
  if (options.suspects !== undefined && typeof options.suspects !== 'function') {
    throw new TypeError('suspects must be a function returning { name: size }');
  }
  return {
    windowMs,
    buckets,
    bucketMs,
    minBuckets,
    minGrowthBytes: nonNegative('minGrowthBytes', options.minGrowthBytes ?? 8 * 1024 * 1024),
    minGrowthPercent: nonNegative('minGrowthPercent', options.minGrowthPercent ?? 10),
    minR2,
    sampleIntervalMs: positive('sampleIntervalMs', options.sampleIntervalMs ?? Math.max(1, Math.floor(bucketMs / 4))),
  };
}
