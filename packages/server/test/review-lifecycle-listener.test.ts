import { afterEach, describe, expect, it } from 'vitest';
import { RawClient, type TestServer, sleep, startServer, waitFor } from './helpers';

const servers: TestServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('review: a lifecycle listener that throws', () => {
  it('breaks neither the subscribe that made the event nor the events after it; the error is reported', async () => {
    const s = await startServer({ lifecycle: { vacateGraceMs: 0 } });
    servers.push(s);
    const errors: Error[] = [];
    s.service.on('error', (error) => errors.push(error));
    const seen: string[] = [];
    s.service.on('channel_occupied', (e) => {
      seen.push(`occupied:${e.channel}`);
      throw new Error('listener bug');
    });
    s.service.on('channel_vacated', (e) => seen.push(`vacated:${e.channel}`));
    await sleep(10);
    const c = await RawClient.open(s.url);
    clients.push(c);
    const ack = await c.request({ type: 'subscribe', channel: 'room' });
    expect(ack).toMatchObject({ type: 'ack' });
    await c.request({ type: 'unsubscribe', channel: 'room' });
    await waitFor(() => seen.length === 2, 2_000, 'vacated after the throwing occupied listener');
    expect(seen).toEqual(['occupied:room', 'vacated:room']);
    expect(errors.map((e) => e.message).join('\n')).toMatch(/listener bug/);
  });
});
