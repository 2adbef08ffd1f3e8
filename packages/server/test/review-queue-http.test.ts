import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type TestServer, startServer } from './helpers';

const API_KEY = 'review-queue-key';
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(): Promise<TestServer> {
  const s = await startServer({ http: { apiKey: API_KEY } });
  servers.push(s);
  return s;
}

/** A raw request (fetch would normalise the path). */
function raw(s: TestServer, method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: s.port, method, path, headers: { authorization: `Bearer ${API_KEY}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('review: the /queue API with odd input', () => {
  it('a dead-letter id with malformed percent-encoding is a 400, not a crash', async () => {
    const s = await start();
    const errors: unknown[] = [];
    const onUncaught = (error: unknown) => errors.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const del = await raw(s, 'DELETE', '/queue/dead-letters/broadcasts/%E0%A4%A');
      expect(del.status).toBe(400);
      expect(String(del.body.message)).toMatch(/percent|encod/i);
      const retry = await raw(s, 'POST', '/queue/dead-letters/broadcasts/%zz/retry');
      expect(retry.status).toBe(400);
      // a well-encoded id that is not there is still a 404
      expect((await raw(s, 'DELETE', '/queue/dead-letters/broadcasts/a%20b')).status).toBe(404);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(errors).toEqual([]);
  });

  it('pages through more dead letters than one page holds (offset + limit over 1000)', async () => {
    const s = await start();
    const hub = s.service.hub;
    hub.publish = (() => Promise.reject(new Error('the broker cannot take it (test)'))) as typeof hub.publish;
    for (let i = 0; i < 1_005; i++) await s.service.queue.broadcast('room', 'e', { i }, { attempts: 1 });
    const deadline = Date.now() + 8_000;
    while ((await s.service.queue.deadLetters({ limit: 1 })).total < 1_005 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const page = await raw(s, 'GET', '/queue/dead-letters?queue=broadcasts&offset=1000&limit=50');
    expect(page.status).toBe(200);
    expect(page.body.total).toBe(1_005);
    // newest first: the last five are the first five added
    const entries = page.body.entries as { data: { data: { i: number } } }[];
    expect(entries.map((e) => e.data.data.i).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    const both = await raw(s, 'GET', '/queue/dead-letters?offset=1004&limit=1000');
    expect(both.status).toBe(200);
    expect((both.body.entries as unknown[]).length).toBe(1);
  });
});
