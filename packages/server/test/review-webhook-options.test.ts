import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveWebhooks } from '../src/webhooks';
import { deliverWebhook } from '../src/webhooks/delivery';

const SECRET = 'a-secret-of-32-characters-length';
const receivers: Server[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) {
    r.closeAllConnections();
    await new Promise<void>((resolve) => r.close(() => resolve()));
  }
});

async function receiver(): Promise<{ port: number; requests: IncomingMessage['headers'][] }> {
  const requests: IncomingMessage['headers'][] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push(req.headers);
      res.end('ok');
    });
  });
  receivers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, requests };
}

describe('review: webhook endpoint options that every delivery would fail on', () => {
  it('a URL with credentials is delivered, the credentials sent as HTTP Basic auth', async () => {
    const { port, requests } = await receiver();
    const [endpoint] = resolveWebhooks([
      { url: `http://hook%20user:p%40ss@127.0.0.1:${port}/hook?x=1`, key: 'k', secret: SECRET },
    ]);
    await expect(deliverWebhook(endpoint!, '{"time_ms":1,"events":[]}')).resolves.toBe(200);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.authorization).toBe(`Basic ${Buffer.from('hook user:p@ss').toString('base64')}`);
  });

  it('an Authorization header of its own wins over the URL credentials', async () => {
    const { port, requests } = await receiver();
    const [endpoint] = resolveWebhooks([
      { url: `http://u:p@127.0.0.1:${port}/hook`, key: 'k', secret: SECRET, headers: { authorization: 'Bearer t' } },
    ]);
    await expect(deliverWebhook(endpoint!, '{}')).resolves.toBe(200);
    expect(requests[0]!.authorization).toBe('Bearer t');
  });

  it('a header value fetch cannot send is refused at startup, naming the field', () => {
    expect(() =>
      resolveWebhooks([{ url: 'http://127.0.0.1:9/hook', key: 'k', secret: SECRET, headers: { 'X-Team': '🚀' } }]),
    ).toThrow(/webhooks\[0\]\.headers\.X-Team/);
    // Latin-1 is what HTTP header values carry: still accepted
    expect(
      resolveWebhooks([{ url: 'http://127.0.0.1:9/hook', key: 'k', secret: SECRET, headers: { 'X-Team': 'café' } }]),
    ).toHaveLength(1);
  });

  it.each(['Transfer-Encoding', 'Connection', 'Keep-Alive', 'Upgrade', 'Expect'])(
    'the hop-by-hop header %s is refused at startup (fetch refuses every request carrying it)',
    (name) => {
      expect(() =>
        resolveWebhooks([{ url: 'http://127.0.0.1:9/hook', key: 'k', secret: SECRET, headers: { [name]: 'x' } }]),
      ).toThrow(TypeError);
    },
  );
});
