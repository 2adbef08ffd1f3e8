import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BullJobQueue, MemoryJobQueue } from '../src/index';
import { waitFor } from './helpers';
import { deleteTestKeys, REDIS_URL, redisAvailable, uniquePrefix } from './redis';

const queues: { close(timeoutMs?: number): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close(1_000)));
});
afterAll(async () => {
  expect(await deleteTestKeys()).toBe(0);
});

describe.runIf(redisAvailable)('review: BullJobQueue.add with a jobId and a delay', () => {
  it('answers the due time and runs the job on time, like the memory queue', async () => {
    const q = new BullJobQueue({ name: 'jobs', connection: { url: REDIS_URL }, prefix: uniquePrefix() });
    queues.push(q);
    const memory = new MemoryJobQueue({ name: 'jobs' });
    queues.push(memory);
    let ranAt = 0;
    q.handle('work', () => {
      ranAt = Date.now();
    });
    await q.start();
    const before = Date.now();
    const info = await q.add('work', { n: 1 }, { delayMs: 600, jobId: 'review-job' });
    const reference = await memory.add('work', { n: 1 }, { delayMs: 600, jobId: 'review-job' });
    expect(info.state).toBe(reference.state);
    expect(info.runAt).toBeGreaterThanOrEqual(before + 600);
    expect(info.runAt).toBeLessThanOrEqual(Date.now() + 600);
    // adding it again answers the same job and the same due time
    expect((await q.add('work', { n: 2 }, { delayMs: 5_000, jobId: 'review-job' })).runAt).toBe(info.runAt);
    await waitFor(() => ranAt > 0, 3_000, 'the delayed job');
    // promoted at its time, not left to the worker's wake-up
    expect(ranAt - info.runAt!).toBeLessThan(100);
  });
});
