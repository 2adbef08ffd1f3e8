import { afterAll, afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { TestClient } from './client';
import { NodeProcess } from './nodes';
import { deleteTestKeys, redisAvailable, uniquePrefix, waitFor } from './redis';

// Publish deduplication across nodes on the real Redis: the publish script keeps `P{c}:i:<id>` for
// `idempotencyWindowMs`, so a publish id is published once cluster-wide within the window, whichever node takes it.

const nodes: NodeProcess[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(nodes.splice(0).map((n) => n.kill('SIGKILL')));
});
afterAll(() => deleteTestKeys());

const WINDOW_MS = 300;

interface Ack {
  ok: boolean;
  ack: { id: string; epoch: string; offset: number; duplicate?: boolean };
  message?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!redisAvailable)('publish deduplication across two nodes on Redis', () => {
  it('the same id from two nodes within the window: one delivery, both acked with the same offset; after it, accepted again', async () => {
    const keyPrefix = uniquePrefix('dedupe');
    const [a, b] = await Promise.all(
      ['da', 'db'].map((nodeId) => NodeProcess.start({ nodeId, keyPrefix, idempotencyWindowMs: WINDOW_MS })),
    );
    nodes.push(a!, b!);
    onTestFailed(() => {
      for (const n of nodes) if (n.stderr !== '') console.error(`--- ${n.nodeId} stderr ---\n${n.stderr}`);
    });
    const subscribers = await Promise.all([a!, b!].map((n) => TestClient.open(n.url())));
    clients.push(...subscribers);
    const acks = await Promise.all(subscribers.map((s) => s.subscribe('orders')));
    const epoch = acks[0]!.epoch as string;
    const publish = (node: NodeProcess, id: string, data: unknown): Promise<Ack> =>
      node.request<Ack>({ type: 'publish', channel: 'orders', id, data });

    // at the same moment from both nodes
    const [fromA, fromB] = await Promise.all([publish(a!, 'order-1', 'from a'), publish(b!, 'order-1', 'from b')]);
    expect(fromA.ok && fromB.ok).toBe(true);
    expect(fromA.ack.offset).toBe(1);
    expect(fromB.ack).toMatchObject({ epoch: fromA.ack.epoch, offset: 1, id: 'order-1' });
    expect([fromA.ack.duplicate, fromB.ack.duplicate].filter((d) => d === true)).toHaveLength(1);
    // and again from the other node while the window lasts
    const again = await publish(a!, 'order-1', 'from a again');
    expect(again.ack).toMatchObject({ offset: 1, duplicate: true });
    await waitFor(() => subscribers.every((s) => s.messages('orders').length === 1), 5000, 'the one delivery');
    await sleep(200);
    for (const s of subscribers) {
      expect(s.messages('orders').map((m) => [m.offset, m.id])).toEqual([[1, 'order-1']]);
      expect(s.violations).toEqual([]);
    }
    const first = subscribers[0]!.messages('orders')[0]!.data;
    expect(['from a', 'from b']).toContain(first);

    // after the window the key is gone in Redis: the id is published again, at the next offset
    await sleep(WINDOW_MS + 100);
    const later = await publish(b!, 'order-1', 'after the window');
    expect(later.ack).toMatchObject({ epoch, offset: 2, id: 'order-1' });
    expect(later.ack.duplicate).toBeUndefined();
    const within = await publish(a!, 'order-1', 'within the new window');
    expect(within.ack).toMatchObject({ offset: 2, duplicate: true });
    // history holds both publishes: a client recovering from the start gets offsets 1 and 2, once each
    const late = await TestClient.open(b!.url());
    clients.push(late);
    const recovered = await late.request({ type: 'subscribe', channel: 'orders', since: { epoch, offset: 0 } });
    expect(recovered).toMatchObject({ type: 'ack', recovered: true, offset: 2 });
    await waitFor(() => late.messages('orders').length === 2, 5000, 'the replay');
    expect(late.messages('orders').map((m) => [m.offset, m.data])).toEqual([
      [1, first],
      [2, 'after the window'],
    ]);
  });
});
