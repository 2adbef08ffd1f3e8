import { MemoryBroker, MemoryBus } from '@unisocket/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { UnisocketClient } from '../src/index';
import { type TestServer, TrackedWebSocket, cleanupClients, startServer, testClient, waitFor } from './helpers';

const servers: TestServer[] = [];
afterEach(async () => {
  cleanupClients();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('a deploy with several server URLs (docs/deploys.md)', () => {
  it("a node's clients honour its shutdown advice, move to the other node and recover every message once", async () => {
    const bus = new MemoryBus();
    const spread = 400;
    const a = await startServer({ broker: new MemoryBroker({ bus, nodeId: 'node-a' }), reconnectSpreadMs: spread });
    servers.push(a);
    const b = await startServer({ broker: new MemoryBroker({ bus, nodeId: 'node-b' }), reconnectSpreadMs: spread });
    servers.push(b);

    const clients: { client: UnisocketClient; offsets: number[]; reasons: string[]; reconnectedAt?: number }[] = [];
    for (let i = 0; i < 30; i++) {
      const client = testClient(a.url, {
        url: [a.url, b.url],
        WebSocket: TrackedWebSocket,
        reconnect: { initialDelayMs: 20, maxDelayMs: 5_000, stableAfterMs: 1_000 },
      });
      const entry: (typeof clients)[number] = { client, offsets: [], reasons: [] };
      client.on('disconnected', (e) => entry.reasons.push(e.reason));
      client.on('connected', (e) => {
        if (e.reconnected) entry.reconnectedAt = Date.now();
      });
      client.subscribe('news', { onMessage: (m) => entry.offsets.push(m.offset) });
      await client.connect();
      clients.push(entry);
    }
    const onA = clients.filter((c) => a.service.hub.getConnection(c.client.getSnapshot().connectionId!) !== undefined);
    // a random start spreads the fleet over both nodes
    expect(onA.length).toBeGreaterThan(0);
    expect(onA.length).toBeLessThan(clients.length);
    await waitFor(() => clients.every((c) => c.client.getSnapshot().channels.news?.status === 'subscribed'));

    let published = 0;
    const publish = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++, published++) await b.service.broadcast('news', 'tick', { n: published });
    };
    await publish(10);
    const t0 = Date.now();
    const closing = a.close();
    // the stream goes on while A's clients wait out their advice
    for (let i = 0; i < 10; i++) {
      await publish(2);
      await new Promise((r) => setTimeout(r, 30));
    }
    await closing;
    await waitFor(() => onA.every((c) => c.reconnectedAt !== undefined), 10_000);
    await publish(5);
    await waitFor(() => clients.every((c) => c.offsets.length === published), 10_000);

    for (const c of clients) expect(c.offsets).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    for (const c of onA) {
      expect(c.reasons[0]).toMatch(/^server shutting down; retry-after-ms=\d+$/);
      const advised = Number(/retry-after-ms=(\d+)/.exec(c.reasons[0]!)![1]);
      // it waited (about) the advised delay, and came back on B
      expect(c.reconnectedAt! - t0).toBeGreaterThanOrEqual(advised - 5);
      expect(b.service.hub.getConnection(c.client.getSnapshot().connectionId!)).toBeDefined();
      expect(c.client.getSnapshot().channels.news).toMatchObject({ status: 'subscribed', recovered: true });
    }
  });
});
