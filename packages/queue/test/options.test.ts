import { describe, expect, it } from 'vitest';
import {
  DEFAULT_JOB_QUEUE_OPTIONS,
  MAX_PRIORITY,
  nextCronTick,
  resolveBackoff,
  resolveJobOptions,
  resolvePage,
  resolveQueueOptions,
  resolveSchedule,
  validateJobId,
  validateQueueName,
} from '../src/index';

const queue = resolveQueueOptions({ name: 'jobs' });

describe('queue options', () => {
  it('fills the documented defaults', () => {
    expect(queue).toEqual({ name: 'jobs', ...DEFAULT_JOB_QUEUE_OPTIONS });
    expect(queue.defaultBackoff).toEqual({ type: 'exponential', delayMs: 1_000, maxDelayMs: 3_600_000 });
    expect(queue).toMatchObject({ defaultAttempts: 3, concurrency: 8, maxDeadLetters: 10_000, maxJobs: 100_000 });
  });

  it('refuses bad values with a TypeError saying what to change', () => {
    expect(() => resolveQueueOptions({ name: 'a:b' })).toThrow(/without ":"/);
    expect(() => resolveQueueOptions({ name: '' })).toThrow(TypeError);
    expect(() => resolveQueueOptions({ name: 'q', concurrency: 0 })).toThrow(/concurrency must be an integer from 1/);
    expect(() => resolveQueueOptions({ name: 'q', maxJobs: 1.5 })).toThrow(/maxJobs/);
    expect(() => resolveQueueOptions({ name: 'q', colour: 'red' } as never)).toThrow(/no option "colour"/);
    expect(() => validateQueueName(42)).toThrow(TypeError);
  });
});

describe('job options', () => {
  it("applies the queue's attempts and backoff", () => {
    expect(resolveJobOptions(undefined, queue)).toEqual({
      delayMs: 0,
      attempts: 3,
      retryForMs: undefined,
      backoff: queue.defaultBackoff,
      priority: undefined,
      jobId: undefined,
    });
    const given = resolveJobOptions({ delayMs: 50, attempts: 2, backoff: 300, priority: 4, jobId: 'a-1' }, queue);
    expect(given).toMatchObject({ delayMs: 50, attempts: 2, priority: 4, jobId: 'a-1' });
    expect(given.backoff).toEqual({ type: 'fixed', delayMs: 300, maxDelayMs: 300 });
  });

  it('retryForMs means unlimited attempts, and excludes attempts', () => {
    expect(resolveJobOptions({ retryForMs: 60_000 }, queue).attempts).toBe(Number.POSITIVE_INFINITY);
    expect(() => resolveJobOptions({ retryForMs: 1_000, attempts: 3 }, queue)).toThrow(/either attempts or retryForMs/);
  });

  it('checks every value', () => {
    expect(() => resolveJobOptions({ delayMs: -1 }, queue)).toThrow(/delayMs must be an integer from 0/);
    expect(() => resolveJobOptions({ attempts: 0 }, queue)).toThrow(/1 = no retry/);
    expect(() => resolveJobOptions({ priority: 0 }, queue)).toThrow(/priority must be an integer from 1 to 2097151/);
    expect(() => resolveJobOptions({ priority: MAX_PRIORITY + 1 }, queue)).toThrow(TypeError);
    expect(resolveJobOptions({ priority: MAX_PRIORITY }, queue).priority).toBe(2_097_151);
    expect(() => resolveJobOptions({ delay: 5 } as never, queue)).toThrow(/no option "delay": use delayMs/);
    expect(() => resolveJobOptions({ delayMs: 5 }, queue, true)).toThrow(/recurring job takes no delayMs or jobId/);
  });

  it('keeps job ids apart from the queue numbers and BullMQ separators', () => {
    expect(validateJobId('order-17')).toBe('order-17');
    expect(() => validateJobId('17')).toThrow(/must not be an integer/);
    expect(() => validateJobId('a:b')).toThrow(/must not contain ":"/);
    expect(() => validateJobId('x'.repeat(257))).toThrow(/at most 256/);
  });
});

describe('backoff options', () => {
  it('a number is a fixed delay; exponential is the default with a 1 h cap', () => {
    expect(resolveBackoff(250)).toEqual({ type: 'fixed', delayMs: 250, maxDelayMs: 250 });
    expect(resolveBackoff({ delayMs: 100 })).toEqual({ type: 'exponential', delayMs: 100, maxDelayMs: 3_600_000 });
    expect(resolveBackoff({ type: 'fixed', delayMs: 100, maxDelayMs: 5_000 })).toEqual({
      type: 'fixed',
      delayMs: 100,
      maxDelayMs: 100,
    });
  });

  it('refuses what cannot work', () => {
    expect(() => resolveBackoff({ delayMs: 100, maxDelayMs: 50 })).toThrow(/maxDelayMs \(50\) must be at least/);
    expect(() => resolveBackoff({ type: 'linear' as never, delayMs: 1 })).toThrow(/'exponential' or 'fixed'/);
    expect(() => resolveBackoff({} as never)).toThrow(/delayMs/);
  });
});

describe('schedules', () => {
  it('takes exactly one of pattern or everyMs', () => {
    expect(resolveSchedule({ everyMs: 1_000 })).toEqual({ kind: 'every', everyMs: 1_000 });
    expect(resolveSchedule({ pattern: '*/5 * * * *' })).toEqual({ kind: 'cron', pattern: '*/5 * * * *', tz: 'UTC' });
    expect(resolveSchedule({ pattern: '0 9 * * 1', tz: 'Europe/Paris' })).toMatchObject({ tz: 'Europe/Paris' });
    expect(() => resolveSchedule({})).toThrow(/exactly one of pattern/);
    expect(() => resolveSchedule({ everyMs: 1_000, pattern: '* * * * *' })).toThrow(/exactly one of pattern/);
    expect(() => resolveSchedule({ everyMs: 99 })).toThrow(/everyMs must be an integer from 100/);
    expect(() => resolveSchedule({ everyMs: 1_000, tz: 'UTC' })).toThrow(/tz applies to a cron pattern only/);
    expect(() => resolveSchedule({ pattern: '* * * * *', tz: 'Mars/Olympus' })).toThrow(/not a time zone/);
  });

  it("names a malformed pattern and cron-parser's reason", () => {
    expect(() => resolveSchedule({ pattern: '61 * * * *' })).toThrow(
      /the cron pattern "61 \* \* \* \*" is not valid: Constraint error, got value 61 expected range 0-59/,
    );
    expect(() => resolveSchedule({ pattern: 'every minute' })).toThrow(/"every minute" is not valid: .+/);
    expect(() => resolveSchedule({ pattern: '* * * * * * * *' })).toThrow(/too many fields/);
    // parses, but never fires
    expect(() => resolveSchedule({ pattern: '0 0 30 2 *' })).toThrow(/"0 0 30 2 \*" is not valid/);
    expect(() => resolveSchedule({ pattern: '61 * * * *' })).toThrow(TypeError);
  });

  it('iterates a pattern strictly after a time, in its time zone', () => {
    const at = Date.UTC(2026, 0, 1, 0, 0, 5);
    expect(nextCronTick('*/5 * * * * *', 'UTC', at)).toBe(at + 5_000);
    expect(nextCronTick('*/5 * * * * *', 'UTC', at - 1)).toBe(at);
    // 09:00 in Paris is 08:00 UTC in January
    expect(new Date(nextCronTick('0 9 * * *', 'Europe/Paris', at)).toISOString()).toBe('2026-01-01T08:00:00.000Z');
  });
});

describe('dead-letter pages', () => {
  it('defaults to the first 100 and refuses more than 1 000', () => {
    expect(resolvePage({})).toEqual({ offset: 0, limit: 100 });
    expect(() => resolvePage({ limit: 1_001 })).toThrow(/limit must be an integer from 1 to 1000/);
    expect(() => resolvePage({ offset: -1 })).toThrow(/offset/);
  });
});
