import { isUnisocketError } from '@unisocket/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type JobContext, MemoryJobQueue, type MemoryJobQueueOptions, type QueueEvents } from '../src/index';
import { sleep, waitFor } from './helpers';

const queues: MemoryJobQueue[] = [];
function queue(options: Partial<MemoryJobQueueOptions> = {}): MemoryJobQueue {
  const q = new MemoryJobQueue({ name: 'jobs', ...options });
  queues.push(q);
  return q;
}
afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close(100)));
});

/** Records every event of a queue. */
function record(q: MemoryJobQueue) {
  const events: { [E in keyof QueueEvents]?: QueueEvents[E][0][] } = {};
  const names: (keyof QueueEvents)[] = [
    'retry-started',
    'retry-completed',
    'schedule-executed',
    'execution-completed',
    'entry-added',
    'entry-resubmitted',
    'entry-resolved',
    'completed',
    'error',
  ];
  for (const name of names) {
    (q.on as (event: string, listener: (event: unknown) => void) => unknown)(name, (event) => {
      ((events[name] ??= []) as unknown[]).push(event);
    });
  }
  return events;
}

function codeOf(error: unknown): string | undefined {
  return isUnisocketError(error) ? error.code : undefined;
}

describe('MemoryJobQueue', () => {
  it('is the memory kind, not durable', () => {
    const q = queue();
    expect(q.kind).toBe('memory');
    expect(q.durable).toBe(false);
    expect(() => new MemoryJobQueue({ name: 'a:b' })).toThrow(TypeError);
  });

  it('runs a delayed job within 100 ms of its time', async () => {
    const q = queue();
    const ran: number[] = [];
    q.handle('broadcast', () => {
      ran.push(Date.now());
    });
    await q.start();
    const added = Date.now();
    const info = await q.add('broadcast', { channel: 'news' }, { delayMs: 300 });
    expect(info).toMatchObject({ state: 'delayed', attemptsMade: 0, attempts: 3 });
    expect(info.runAt! - added).toBeGreaterThanOrEqual(300);
    expect((await q.job(info.id))?.state).toBe('delayed');
    expect((await q.counts()).delayed).toBe(1);
    await waitFor(() => ran.length === 1, 2_000, 'the delayed job');
    const lateness = ran[0]! - info.runAt!;
    console.log(`memory: delayed job ran ${lateness} ms after its time (300 ms delay)`);
    expect(lateness).toBeGreaterThanOrEqual(0);
    expect(lateness).toBeLessThan(100);
    await waitFor(async () => (await q.job(info.id))?.state === 'completed', 1_000, 'completed');
  });

  it('retries with exponential backoff, as measured', async () => {
    const q = queue();
    const events = record(q);
    const starts: number[] = [];
    q.handle('flaky', (job: JobContext) => {
      starts.push(Date.now());
      if (job.attemptsMade < 3) throw new Error(`fail ${job.attemptsMade + 1}`);
    });
    await q.start();
    await q.add('flaky', null, { attempts: 5, backoff: { type: 'exponential', delayMs: 100 } });
    await waitFor(() => (events.completed ?? []).length === 1, 3_000, 'completion');
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    console.log(`memory: exponential backoff 100 ms: gaps between attempts ${gaps.join(', ')} ms`);
    expect(gaps).toHaveLength(3);
    [100, 200, 400].forEach((expected, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(expected);
      expect(gaps[i]).toBeLessThan(expected + 50);
    });
    expect(events['retry-started']!.map((e) => [e.attempt, e.delayMs, e.error])).toEqual([
      [2, 100, 'fail 1'],
      [3, 200, 'fail 2'],
      [4, 400, 'fail 3'],
    ]);
    expect(events['retry-completed']).toEqual([{ queue: 'jobs', id: '1', name: 'flaky', attempts: 4 }]);
    expect(events.completed![0]).toMatchObject({ id: '1', name: 'flaky', attempts: 4 });
  });

  it('fixed backoff, then the dead-letter queue', async () => {
    const q = queue();
    const events = record(q);
    const starts: number[] = [];
    q.handle('doomed', () => {
      starts.push(Date.now());
      throw new Error('nope');
    });
    await q.start();
    const { id } = await q.add('doomed', { n: 1 }, { attempts: 3, backoff: 150 });
    await waitFor(() => (events['entry-added'] ?? []).length === 1, 3_000, 'dead letter');
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    console.log(`memory: fixed backoff 150 ms: gaps ${gaps.join(', ')} ms`);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(150), expect(gap).toBeLessThan(200);
    expect(events['entry-added']).toEqual([{ queue: 'jobs', id, name: 'doomed', attempts: 3, error: 'nope' }]);
    const dead = await q.deadLetters();
    expect(dead.total).toBe(1);
    expect(dead.entries[0]).toMatchObject({
      id,
      state: 'failed',
      attemptsMade: 3,
      failedReason: 'nope',
      data: { n: 1 },
    });
  });

  it('retryForMs retries until its time is up, then dead-letters', async () => {
    const q = queue();
    const events = record(q);
    const starts: number[] = [];
    q.handle('until', () => {
      starts.push(Date.now());
      throw new Error('still down');
    });
    await q.start();
    const info = await q.add('until', null, { retryForMs: 350, backoff: 100 });
    expect(info.attempts).toBe(Number.POSITIVE_INFINITY);
    await waitFor(() => (events['entry-added'] ?? []).length === 1, 3_000, 'dead letter');
    const offsets = starts.map((t) => t - info.createdAt);
    console.log(`memory: retryForMs 350, fixed 100: attempts at ${offsets.join(', ')} ms`);
    expect(starts).toHaveLength(4);
    expect(offsets.every((o) => o <= 350)).toBe(true);
  });

  it("runs waiting jobs in BullMQ's priority order", async () => {
    const q = queue({ concurrency: 1 });
    const order: string[] = [];
    q.handle('p', (job: JobContext<string>) => {
      order.push(job.data);
    });
    await q.add('p', 'A');
    await q.add('p', 'B5', { priority: 5 });
    await q.add('p', 'C1', { priority: 1 });
    await q.add('p', 'D');
    await q.add('p', 'E5', { priority: 5 });
    expect((await q.counts()).waiting).toBe(5);
    expect((await q.job('3'))?.state).toBe('prioritized');
    await q.start();
    await waitFor(() => order.length === 5, 1_000, 'all jobs');
    expect(order).toEqual(['A', 'D', 'C1', 'B5', 'E5']);
  });

  it('a known jobId adds nothing and answers the existing job', async () => {
    const q = queue();
    const first = await q.add('x', { v: 1 }, { jobId: 'order-1' });
    const again = await q.add('x', { v: 2 }, { jobId: 'order-1' });
    expect(again).toEqual(first);
    expect(again.data).toEqual({ v: 1 });
    expect((await q.counts()).waiting).toBe(1);
  });

  it('runs at most `concurrency` jobs at once', async () => {
    const q = queue({ concurrency: 3 });
    let running = 0;
    let most = 0;
    q.handle('slow', async () => {
      most = Math.max(most, ++running);
      await sleep(50);
      running--;
    });
    for (let i = 0; i < 7; i++) await q.add('slow', i);
    await q.start();
    await waitFor(async () => (await q.counts()).completed === 7, 2_000, 'all jobs');
    expect(most).toBe(3);
  });

  it('lists, retries and removes dead letters; a removed one is NOT_FOUND', async () => {
    const q = queue();
    const events = record(q);
    let healthy = false;
    q.handle('send', () => {
      if (!healthy) throw new Error('receiver down');
    });
    await q.start();
    const a = await q.add('send', 'a', { attempts: 1 });
    const b = await q.add('send', 'b', { attempts: 1 });
    await waitFor(() => (events['entry-added'] ?? []).length === 2, 1_000, 'two dead letters');
    const listed = await q.deadLetters();
    expect(listed.total).toBe(2);
    expect(listed.entries.map((e) => e.id)).toEqual([b.id, a.id]); // newest first
    expect((await q.deadLetters({ offset: 1, limit: 1 })).entries.map((e) => e.id)).toEqual([a.id]);

    healthy = true;
    const retried = await q.retryDeadLetter(a.id);
    expect(retried).toMatchObject({ id: a.id, attemptsMade: 0 });
    expect(events['entry-resubmitted']).toEqual([{ queue: 'jobs', id: a.id, name: 'send' }]);
    await waitFor(() => (events['entry-resolved'] ?? []).length === 1, 1_000, 'resolution');
    expect(events['entry-resolved']).toEqual([{ queue: 'jobs', id: a.id, name: 'send', how: 'completed' }]);

    await q.removeDeadLetter(b.id);
    expect(events['entry-resolved']![1]).toEqual({ queue: 'jobs', id: b.id, name: 'send', how: 'removed' });
    expect((await q.deadLetters()).total).toBe(0);
    const error = await q.retryDeadLetter(b.id).catch((e: unknown) => e);
    expect(codeOf(error)).toBe('NOT_FOUND');
    expect((error as Error).message).toMatch(/no dead-letter entry "2": it was removed or retried already/);
    expect(codeOf(await q.removeDeadLetter('nope').catch((e: unknown) => e))).toBe('NOT_FOUND');
    expect(codeOf(await q.retryDeadLetter(a.id).catch((e: unknown) => e))).toBe('NOT_FOUND'); // completed now
  });

  it('keeps the newest maxDeadLetters and at most keepCompleted completed jobs', async () => {
    const q = queue({ maxDeadLetters: 3, keepCompleted: 2 });
    q.handle('bad', () => {
      throw new Error('x');
    });
    q.handle('good', () => {});
    await q.start();
    for (let i = 0; i < 5; i++) await q.add('bad', i, { attempts: 1 });
    for (let i = 0; i < 4; i++) await q.add('good', i);
    await waitFor(async () => (await q.counts()).completed === 2 && (await q.counts()).failed === 3, 1_000, 'bounds');
    await sleep(20);
    expect(await q.counts()).toEqual({ waiting: 0, delayed: 0, active: 0, completed: 2, failed: 3 });
    expect((await q.deadLetters()).entries.map((e) => e.data)).toEqual([4, 3, 2]);
    expect(await q.job('6')).toBeUndefined(); // the first completed one, dropped
    expect((await q.job('9'))?.state).toBe('completed');
  });

  it('refuses jobs beyond maxJobs with UNAVAILABLE saying the limit', async () => {
    const q = queue({ maxJobs: 3 });
    await q.add('x', 1);
    await q.add('x', 2, { delayMs: 10_000 });
    await q.add('x', 3);
    const error = await q.add('x', 4).catch((e: unknown) => e);
    expect(codeOf(error)).toBe('UNAVAILABLE');
    expect((error as Error).message).toMatch(
      /holds 3 waiting or delayed jobs \(maxJobs\): retry later, or raise maxJobs/,
    );
  });

  it('a malformed cron pattern is a TypeError at the call', async () => {
    const q = queue();
    const error = await q.schedule('bad', { pattern: '*/5 * * * 99' }, 'tick').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/the cron pattern "\*\/5 \* \* \* 99" is not valid: .+/);
    await expect(q.schedule('fast', { everyMs: 50 }, 'tick')).rejects.toThrow(/everyMs must be an integer from 100/);
    expect(await q.schedules()).toEqual([]);
  });

  it('a recurring job every 200 ms runs once per tick', async () => {
    const q = queue();
    const events = record(q);
    const runs: { scheduledFor: number; at: number }[] = [];
    q.handle('tick', (job: JobContext) => {
      runs.push({ scheduledFor: job.scheduledFor!, at: Date.now() });
    });
    await q.start();
    const info = await q.schedule('heartbeat', { everyMs: 200 }, 'tick', { hello: 1 });
    expect(info).toMatchObject({ key: 'heartbeat', name: 'tick', everyMs: 200 });
    await sleep(1_100);
    expect(await q.unschedule('heartbeat')).toBe(true);
    expect(await q.unschedule('heartbeat')).toBe(false);
    await sleep(250);
    const ticks = runs.map((r) => r.scheduledFor);
    const spacing = ticks.slice(1).map((t, i) => t - ticks[i]!);
    const lateness = runs.map((r) => r.at - r.scheduledFor);
    console.log(`memory: every 200 ms for 1.1 s: ${runs.length} runs, spacing ${spacing.join(',')}, late ${lateness}`);
    expect(runs).toHaveLength(6); // ticks at 0, 200, …, 1000
    expect(new Set(ticks).size).toBe(runs.length);
    expect(spacing.every((s) => s === 200)).toBe(true);
    expect(Math.max(...lateness)).toBeLessThan(100);
    expect(events['schedule-executed']).toHaveLength(6);
    expect(events['schedule-executed']![0]).toMatchObject({ key: 'heartbeat', name: 'tick', scheduledFor: ticks[0] });
    expect(events['execution-completed']!.every((e) => e.ok && e.key === 'heartbeat')).toBe(true);
  });

  it('a tick whose previous run is still active is still a new job', async () => {
    const q = queue({ concurrency: 4 });
    let running = 0;
    let overlap = 0;
    const ticks: number[] = [];
    q.handle('slow-tick', async (job: JobContext) => {
      ticks.push(job.scheduledFor!);
      overlap = Math.max(overlap, ++running);
      await sleep(450);
      running--;
    });
    await q.start();
    await q.schedule('slow', { everyMs: 200 }, 'slow-tick');
    await sleep(700);
    await q.unschedule('slow');
    expect(ticks).toHaveLength(4); // 0, 200, 400, 600
    expect(overlap).toBeGreaterThanOrEqual(3);
  });

  it('a cron pattern with seconds fires on its seconds, once each', async () => {
    const q = queue();
    const ticks: number[] = [];
    q.handle('cron', (job: JobContext) => {
      ticks.push(job.scheduledFor!);
    });
    await q.start();
    const info = await q.schedule('every-second', { pattern: '* * * * * *' }, 'cron');
    expect(info).toMatchObject({ pattern: '* * * * * *', tz: 'UTC' });
    expect(info.next! % 1_000).toBe(0);
    await sleep(2_100);
    await q.unschedule('every-second');
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    expect(ticks.every((t) => t % 1_000 === 0)).toBe(true);
    expect(new Set(ticks).size).toBe(ticks.length);
  });

  it('replacing an everyMs schedule with the same period keeps its next tick', async () => {
    const q = queue();
    const first = await q.schedule('k', { everyMs: 60_000 }, 'a');
    await sleep(20); // the first tick runs at once
    const [current] = await q.schedules();
    expect(current!.next).toBe(first.next! + 60_000);
    const second = await q.schedule('k', { everyMs: 60_000 }, 'b', { x: 1 });
    expect(second.next).toBe(current!.next);
    expect((await q.schedules()).map((s) => s.name)).toEqual(['b']);
    const third = await q.schedule('k', { everyMs: 30_000 }, 'b'); // another period: starts over, at once
    expect(third.next).toBeLessThanOrEqual(Date.now());
  });

  it('reports a job without a handler and a throwing listener as error events', async () => {
    const q = queue();
    const events = record(q);
    q.on('completed', () => {
      throw new Error('listener bug');
    });
    q.handle('known', () => {});
    await q.start();
    await q.add('unknown', null, { attempts: 1 });
    await q.add('known', null);
    await waitFor(() => (events.error ?? []).length === 2, 1_000, 'errors');
    expect(events.error!.map((e) => e.message).sort()).toEqual([
      'a "completed" listener threw: listener bug',
      `no handler for job "unknown" on queue jobs: call handle('unknown', fn) before start()`,
    ]);
    expect((await q.deadLetters()).entries[0]?.failedReason).toMatch(/no handler for job "unknown"/);
  });

  it('close lets active jobs finish, clears timers, then refuses calls', async () => {
    const q = queue();
    const done: string[] = [];
    q.handle('work', async (job: JobContext<string>) => {
      await sleep(200);
      done.push(job.data);
    });
    await q.start();
    await q.add('work', 'active');
    await q.add('work', 'later', { delayMs: 100 });
    await q.schedule('s', { everyMs: 100 }, 'work', 'tick');
    await sleep(20);
    const t0 = Date.now();
    await q.close(1_000);
    const took = Date.now() - t0;
    expect(done).toContain('active');
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(400);
    await sleep(250);
    expect(done).not.toContain('later');
    const error = await q.add('work', 'x').catch((e: unknown) => e);
    expect(codeOf(error)).toBe('UNAVAILABLE');
    expect((error as Error).message).toMatch(/queue jobs is closed/);
    expect(codeOf(await q.counts().catch((e: unknown) => e))).toBe('UNAVAILABLE');
    await q.close(); // idempotent
  });

  it('close gives up on a job that never ends after its timeout', async () => {
    const q = queue();
    q.handle('stuck', () => new Promise(() => {}));
    await q.start();
    await q.add('stuck', null);
    await sleep(20);
    const t0 = Date.now();
    await q.close(150);
    expect(Date.now() - t0).toBeLessThan(300);
  });
});
