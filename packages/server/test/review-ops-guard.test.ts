import { afterEach, describe, expect, it } from 'vitest';
import { RawClient, type TestServer, startServer } from './helpers';

const servers: TestServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('review: operations.authorize answering neither true nor false', () => {
  // `conn.userId?.startsWith('admin')` is undefined for an anonymous connection: that is not a permission
  it.each([
    ['a sync undefined', () => undefined],
    ['an async undefined', async () => undefined],
    ['a truthy non-boolean', () => 'yes'],
  ])('%s refuses the subscription to sys.* (it fell through to the public channel rule)', async (_what, authorize) => {
    const s = await startServer({
      operations: { authorize: authorize as unknown as (conn: unknown, channel: string) => boolean },
    });
    servers.push(s);
    const c = await RawClient.open(s.url);
    clients.push(c);
    const answer = await c.request({ type: 'subscribe', channel: 'sys.dlq' });
    expect(answer).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
  });

  it('true still permits', async () => {
    const s = await startServer({ operations: { authorize: async () => true } });
    servers.push(s);
    const c = await RawClient.open(s.url);
    clients.push(c);
    const answer = await c.request({ type: 'subscribe', channel: 'sys.webhook' });
    expect(answer).not.toMatchObject({ type: 'error' });
  });
});
