import { CronExpressionParser } from 'cron-parser';
import type { BackoffOptions, JobOptions, JobQueueOptions, ScheduleOptions } from './types';

/** BullMQ's highest priority number (lowest priority); 1 is the highest priority. */
export const MAX_PRIORITY = 2_097_151;
/** The shortest `everyMs` of a recurring job. */
export const MIN_EVERY_MS = 100;
/** The longest `delayMs`, `retryForMs` or backoff delay accepted: 10 years (anything longer is a unit mistake). */
export const MAX_DELAY_MS = 10 * 365 * 24 * 3_600_000;
/** The longest custom `jobId` and schedule key. */
export const MAX_ID_LENGTH = 256;
/** Dead-letter entries one {@link JobQueue.deadLetters} call returns at most. */
export const MAX_DEAD_LETTER_PAGE = 1_000;
/** The attempts a job with `retryForMs` is given in BullMQ (its time, not this number, ends it). */
export const UNLIMITED_ATTEMPTS = 2_147_483_647;

/** The defaults of {@link JobQueueOptions}. */
export const DEFAULT_JOB_QUEUE_OPTIONS = {
  defaultAttempts: 3,
  defaultBackoff: { type: 'exponential', delayMs: 1_000, maxDelayMs: 3_600_000 },
  concurrency: 8,
  maxDeadLetters: 10_000,
  maxJobs: 100_000,
  keepCompleted: 1_000,
} as const satisfies Required<Omit<JobQueueOptions, 'name'>>;

/** A backoff with every field set. */
export interface ResolvedBackoff {
  readonly type: 'exponential' | 'fixed';
  readonly delayMs: number;
  readonly maxDelayMs: number;
}

/** {@link JobQueueOptions} with every default applied. */
export interface ResolvedJobQueueOptions {
  readonly name: string;
  readonly defaultAttempts: number;
  readonly defaultBackoff: ResolvedBackoff;
  readonly concurrency: number;
  readonly maxDeadLetters: number;
  readonly maxJobs: number;
  readonly keepCompleted: number;
}

/** {@link JobOptions} with the queue's defaults applied. */
export interface ResolvedJobOptions {
  readonly delayMs: number;
  /** `Infinity` with `retryForMs`. */
  readonly attempts: number;
  readonly retryForMs: number | undefined;
  readonly backoff: ResolvedBackoff;
  readonly priority: number | undefined;
  readonly jobId: string | undefined;
}

/** A validated schedule: exactly one of `pattern` (with its time zone) or `everyMs`. */
export type ResolvedSchedule =
  | { readonly kind: 'cron'; readonly pattern: string; readonly tz: string }
  | { readonly kind: 'every'; readonly everyMs: number };

const JOB_OPTION_KEYS = new Set(['delayMs', 'attempts', 'retryForMs', 'backoff', 'priority', 'jobId']);
const QUEUE_OPTION_KEYS = new Set([
  'name',
  'defaultAttempts',
  'defaultBackoff',
  'concurrency',
  'maxDeadLetters',
  'maxJobs',
  'keepCompleted',
]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function integerIn(value: unknown, min: number, max: number, what: string, hint = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${what} must be an integer from ${min} to ${max}, got ${String(value)}${hint}`);
  }
  return value;
}

function rejectUnknownKeys(value: Record<string, unknown>, known: Set<string>, what: string): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key) && value[key] !== undefined) {
      throw new TypeError(`${what} has no option "${key}": use ${[...known].join(', ')}`);
    }
  }
}

/**
 * Validates a queue name: a non-empty string of at most 128 characters without `:` (BullMQ uses `:` in its keys).
 * @throws {TypeError} saying what to change
 */
export function validateQueueName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 128 || name.includes(':')) {
    throw new TypeError(
      `a queue name must be a non-empty string of at most 128 characters without ":", got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/**
 * Validates a job name (what {@link JobQueue.handle} registers): a non-empty string of at most 256 characters.
 * @throws {TypeError} saying what to change
 */
export function validateJobName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_ID_LENGTH) {
    throw new TypeError(`a job name must be a non-empty string of at most 256 characters, got ${JSON.stringify(name)}`);
  }
  return name;
}

/**
 * Validates a custom job id: a non-empty string of at most 256 characters, not an integer (those are the queue's own
 * ids) and without `:` (BullMQ's rule, kept by the memory queue too).
 * @throws {TypeError} saying what to change
 */
export function validateJobId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw new TypeError(`jobId must be a non-empty string of at most 256 characters, got ${JSON.stringify(id)}`);
  }
  if (`${Number.parseInt(id, 10)}` === id) {
    throw new TypeError(`jobId must not be an integer (the queue numbers its own jobs), got "${id}": add a prefix`);
  }
  if (id.includes(':')) throw new TypeError(`jobId must not contain ":", got "${id}": use another separator`);
  return id;
}

/**
 * Validates a schedule key: a non-empty string of at most 256 characters.
 * @throws {TypeError} saying what to change
 */
export function validateScheduleKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_ID_LENGTH) {
    throw new TypeError(
      `a schedule key must be a non-empty string of at most 256 characters, got ${JSON.stringify(key)}`,
    );
  }
  return key;
}

/**
 * Validates a backoff (a number is a fixed delay in ms) and fills its defaults.
 * @throws {TypeError} saying what to change
 */
export function resolveBackoff(backoff: BackoffOptions | number, what = 'backoff'): ResolvedBackoff {
  if (typeof backoff === 'number') {
    return { type: 'fixed', delayMs: integerIn(backoff, 0, MAX_DELAY_MS, what), maxDelayMs: backoff };
  }
  if (!isPlainObject(backoff)) {
    throw new TypeError(`${what} must be a number of ms or { type?, delayMs, maxDelayMs? }, got ${String(backoff)}`);
  }
  rejectUnknownKeys(backoff, new Set(['type', 'delayMs', 'maxDelayMs']), what);
  const type = backoff.type ?? 'exponential';
  if (type !== 'exponential' && type !== 'fixed') {
    throw new TypeError(`${what}.type must be 'exponential' or 'fixed', got ${JSON.stringify(type)}`);
  }
  const delayMs = integerIn(backoff.delayMs, 0, MAX_DELAY_MS, `${what}.delayMs`);
  const maxDelayMs =
    backoff.maxDelayMs === undefined
      ? Math.max(DEFAULT_JOB_QUEUE_OPTIONS.defaultBackoff.maxDelayMs, delayMs)
      : integerIn(backoff.maxDelayMs, 0, MAX_DELAY_MS, `${what}.maxDelayMs`);
  if (maxDelayMs < delayMs) {
    throw new TypeError(`${what}.maxDelayMs (${maxDelayMs}) must be at least delayMs (${delayMs})`);
  }
  return { type, delayMs, maxDelayMs: type === 'fixed' ? delayMs : maxDelayMs };
}

/**
 * Validates {@link JobQueueOptions} and fills the defaults. Options of a particular queue (e.g. BullMQ's `connection`)
 * are checked by that queue.
 * @throws {TypeError} saying what to change
 */
export function resolveQueueOptions(
  options: JobQueueOptions,
  extraKeys: readonly string[] = [],
): ResolvedJobQueueOptions {
  if (!isPlainObject(options)) throw new TypeError('queue options must be an object with at least a name');
  rejectUnknownKeys(options, new Set([...QUEUE_OPTION_KEYS, ...extraKeys]), 'the queue options');
  const d = DEFAULT_JOB_QUEUE_OPTIONS;
  return {
    name: validateQueueName(options.name),
    defaultAttempts: integerIn(options.defaultAttempts ?? d.defaultAttempts, 1, 1_000_000, 'defaultAttempts'),
    defaultBackoff: resolveBackoff(options.defaultBackoff ?? d.defaultBackoff, 'defaultBackoff'),
    concurrency: integerIn(options.concurrency ?? d.concurrency, 1, 10_000, 'concurrency'),
    maxDeadLetters: integerIn(options.maxDeadLetters ?? d.maxDeadLetters, 1, 10_000_000, 'maxDeadLetters'),
    maxJobs: integerIn(options.maxJobs ?? d.maxJobs, 1, 100_000_000, 'maxJobs'),
    keepCompleted: integerIn(options.keepCompleted ?? d.keepCompleted, 0, 10_000_000, 'keepCompleted'),
  };
}

/**
 * Validates {@link JobOptions} and applies the queue's defaults (`attempts`, `backoff`).
 * @param recurring - for {@link JobQueue.schedule}: `delayMs` and `jobId` are refused
 * @throws {TypeError} saying what to change
 */
export function resolveJobOptions(
  options: JobOptions | undefined,
  queue: ResolvedJobQueueOptions,
  recurring = false,
): ResolvedJobOptions {
  const given = options ?? {};
  if (!isPlainObject(given)) throw new TypeError(`job options must be an object, got ${String(given)}`);
  rejectUnknownKeys(given, JOB_OPTION_KEYS, 'JobOptions');
  if (recurring && (given.delayMs !== undefined || given.jobId !== undefined)) {
    throw new TypeError('a recurring job takes no delayMs or jobId (its ticks set both): remove them from the options');
  }
  if (given.attempts !== undefined && given.retryForMs !== undefined) {
    throw new TypeError('give either attempts or retryForMs, not both (retryForMs retries until its time is up)');
  }
  const retryForMs =
    given.retryForMs === undefined ? undefined : integerIn(given.retryForMs, 1, MAX_DELAY_MS, 'retryForMs');
  return {
    delayMs: given.delayMs === undefined ? 0 : integerIn(given.delayMs, 0, MAX_DELAY_MS, 'delayMs'),
    attempts:
      retryForMs !== undefined
        ? Number.POSITIVE_INFINITY
        : given.attempts === undefined
          ? queue.defaultAttempts
          : integerIn(given.attempts, 1, 1_000_000, 'attempts', ' (1 = no retry; use retryForMs to retry for a time)'),
    retryForMs,
    backoff:
      given.backoff === undefined ? queue.defaultBackoff : resolveBackoff(given.backoff as BackoffOptions | number),
    priority:
      given.priority === undefined
        ? undefined
        : integerIn(given.priority, 1, MAX_PRIORITY, 'priority', ' (1 runs first; leave it out to run before all)'),
    jobId: given.jobId === undefined ? undefined : validateJobId(given.jobId),
  };
}

/**
 * Validates a time zone name (IANA, e.g. `Europe/Paris`).
 * @throws {TypeError} saying what to change
 */
export function validateTimeZone(tz: unknown): string {
  if (typeof tz !== 'string' || tz.length === 0) {
    throw new TypeError(`tz must be an IANA time zone name such as 'UTC' or 'Europe/Paris', got ${JSON.stringify(tz)}`);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new TypeError(`tz "${tz}" is not a time zone this runtime knows: use an IANA name such as 'Europe/Paris'`);
  }
  return tz;
}

/**
 * The next tick of a cron pattern strictly after `after` (epoch ms), by cron-parser (the parser BullMQ uses).
 * @throws {TypeError} naming the pattern and cron-parser's reason when it is malformed or never fires
 */
export function nextCronTick(pattern: string, tz: string, after: number): number {
  try {
    return CronExpressionParser.parse(pattern, { currentDate: after, tz }).next().getTime();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TypeError(
      `the cron pattern "${pattern}" is not valid: ${reason} (5 fields "min hour day month weekday", or 6 with seconds first)`,
    );
  }
}

/**
 * Validates {@link ScheduleOptions}: exactly one of `pattern` (a cron pattern cron-parser accepts and that fires at
 * least once more) or `everyMs` (an integer ≥ 100); `tz` only with `pattern` (default `'UTC'`).
 * @throws {TypeError} saying what to change (a malformed pattern: naming it and cron-parser's reason)
 */
export function resolveSchedule(schedule: ScheduleOptions): ResolvedSchedule {
  if (!isPlainObject(schedule)) throw new TypeError('a schedule must be { pattern, tz? } or { everyMs }');
  rejectUnknownKeys(schedule, new Set(['pattern', 'everyMs', 'tz']), 'the schedule');
  const { pattern, everyMs, tz } = schedule;
  if ((pattern === undefined) === (everyMs === undefined)) {
    throw new TypeError('a schedule needs exactly one of pattern (a cron pattern) or everyMs (an interval in ms)');
  }
  if (everyMs !== undefined) {
    if (tz !== undefined) throw new TypeError('tz applies to a cron pattern only: remove it from an everyMs schedule');
    return {
      kind: 'every',
      everyMs: integerIn(everyMs, MIN_EVERY_MS, MAX_DELAY_MS, 'everyMs', ' (use a cron pattern for long periods)'),
    };
  }
  if (typeof pattern !== 'string' || pattern.trim().length === 0 || pattern.length > 256) {
    throw new TypeError(`pattern must be a cron pattern such as "*/5 * * * *", got ${JSON.stringify(pattern)}`);
  }
  const zone = validateTimeZone(tz ?? 'UTC');
  nextCronTick(pattern, zone, Date.now());
  return { kind: 'cron', pattern, tz: zone };
}

/**
 * Validates a page of {@link JobQueue.deadLetters}: `offset` ≥ 0 (default 0), `limit` 1 … 1 000 (default 100).
 * @throws {TypeError} saying what to change
 */
export function resolvePage(options: { offset?: number; limit?: number }): { offset: number; limit: number } {
  const offset = options.offset ?? 0;
  const limit = options.limit ?? 100;
  if (!Number.isInteger(offset) || offset < 0) throw new TypeError(`offset must be an integer ≥ 0, got ${offset}`);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DEAD_LETTER_PAGE) {
    throw new TypeError(`limit must be an integer from 1 to ${MAX_DEAD_LETTER_PAGE}, got ${limit}`);
  }
  return { offset, limit };
}
