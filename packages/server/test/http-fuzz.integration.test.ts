/**
 * A fuzz of the HTTP and upgrade surface over raw sockets: requests and upgrades on every path the server has (the
 * native transport, Socket.IO's handshake and polling, the HTTP API, an application's own upgrade handler, paths
 * nobody serves), cut at every stage — before the request line ends, inside the headers, right after them, inside a
 * body, after the answer started — and then reset, half-closed or left idle. The server (a child process) must stay
 * up, keep answering, and give every descriptor back within its deadlines.
 *
 * UNISOCKET_HTTP_FUZZ_CONNECTIONS (default 1500) and UNISOCKET_HTTP_FUZZ_SEED (default: random, printed) reproduce a run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { UpgradeServer, rawSocket, sleep } from './upgrade-surface';

const CONNECTIONS = Number(process.env.UNISOCKET_HTTP_FUZZ_CONNECTIONS ?? 1_500);
const SEED = Number(process.env.UNISOCKET_HTTP_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CONCURRENCY = 24;
const API_KEY = 'fuzz-api-key';

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PATHS = [
  '/',
  '/ws',
  '/ws/',
  '/ws?token=x',
  '/socket.io/?EIO=4&transport=websocket',
  '/socket.io/?EIO=4&transport=polling',
  '/socket.io',
  '/health',
  '/stats',
  '/metrics',
  '/api/websocket/status',
  '/broadcast',
  '/custom',
  '/nowhere',
  '/%zz/..',
  `/${'a'.repeat(3000)}`,
];

interface Case {
  bytes: Buffer;
  /** How many bytes are written before the ending. */
  cut: number;
  /** Wait before the ending: ms, or 'answer' (until the first byte back, at most 300 ms). */
  wait: number | 'answer';
  ending: 'reset' | 'end' | 'destroy' | 'idle';
}

function generate(random: () => number): Case {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const path = pick(PATHS);
  const method = pick(['GET', 'GET', 'POST', 'PUT', 'OPTIONS', 'BREW']);
  const headers = ['Host: 127.0.0.1'];
  const upgrade = random() < 0.6;
  if (upgrade) {
    headers.push('Connection: Upgrade', `Upgrade: ${pick(['websocket', 'websocket', 'h2c', 'WebSocket', ''])}`);
    if (random() < 0.7) headers.push('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==');
  }
  if (random() < 0.5) headers.push(`Authorization: Bearer ${random() < 0.7 ? API_KEY : 'wrong'}`);
  let body = '';
  if (method !== 'GET' || random() < 0.1) {
    body = pick([
      JSON.stringify({ channel: 'fuzz', event: 'e', data: { n: Math.floor(random() * 1000) } }),
      '{"channel":',
      'x'.repeat(Math.floor(random() * 5000)),
      '',
    ]);
    headers.push('Content-Type: application/json');
    if (random() < 0.8)
      headers.push(`Content-Length: ${random() < 0.2 ? Math.floor(random() * 2_000_000) : Buffer.byteLength(body)}`);
    else headers.push('Transfer-Encoding: chunked');
  }
  const head = `${method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`;
  const bytes = Buffer.from(head + body);
  // cut at every stage: inside the request line, inside the headers, right after them, inside the body, all of it
  const headEnd = Buffer.byteLength(head);
  const cut = pick([
    Math.floor(random() * 16),
    Math.floor(random() * headEnd),
    headEnd - 2,
    headEnd,
    headEnd + Math.floor(random() * (bytes.length - headEnd + 1)),
    bytes.length,
    bytes.length,
  ]);
  return {
    bytes,
    cut: Math.max(0, Math.min(cut, bytes.length)),
    wait: pick([0, 0, 1, 5, 20, 'answer'] as const),
    ending: pick(['reset', 'reset', 'end', 'destroy', 'idle'] as const),
  };
}

async function play(port: number, c: Case): Promise<void> {
  const socket = await rawSocket(port).catch(() => undefined);
  if (socket === undefined) return;
  socket.on('error', () => {});
  let answered: () => void = () => {};
  const answer = new Promise<void>((resolve) => {
    answered = resolve;
  });
  socket.once('data', () => answered());
  socket.once('close', () => answered());
  if (c.cut > 0) socket.write(c.bytes.subarray(0, c.cut));
  if (c.wait === 'answer') await Promise.race([answer, sleep(300)]);
  else if (c.wait > 0) await sleep(c.wait);
  switch (c.ending) {
    case 'reset':
      if (!socket.destroyed) socket.resetAndDestroy();
      break;
    case 'end':
      socket.end();
      break;
    case 'destroy':
      socket.destroy();
      break;
    case 'idle':
      // left to the server's deadlines; the client lets go after a while so the run ends
      setTimeout(() => socket.destroy(), 5_000).unref();
      break;
  }
}

const servers: UpgradeServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

describe('HTTP and upgrade surface fuzz', () => {
  for (const userUpgrade of [false, true]) {
    it(`survives ${CONNECTIONS} hostile connections on every path (${userUpgrade ? 'with' : 'without'} an application upgrade handler; seed ${SEED})`, async () => {
      const server = await UpgradeServer.start({
        transports: ['native', 'socketio'],
        userUpgrade,
        upgradeTimeoutMs: 1_000,
        http: { apiKey: API_KEY, bodyTimeoutMs: 1_000 },
      });
      servers.push(server);
      const baseline = await server.fds();
      const random = prng(SEED + (userUpgrade ? 1 : 0));
      let next = 0;
      const lanes = Array.from({ length: CONCURRENCY }, async () => {
        while (next < CONNECTIONS && server.alive) {
          next++;
          await play(server.port, generate(random));
        }
      });
      await Promise.all(lanes);
      expect(server.alive, `seed ${SEED}: the server exited ${JSON.stringify(server.exit)}\n${server.stderr}`).toBe(
        true,
      );

      // still serving: HTTP API, native WebSocket
      const health = await fetch(`http://127.0.0.1:${server.port}/health`);
      expect(health.status).toBe(200);
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
      const welcome = await new Promise<string>((resolve, reject) => {
        ws.once('message', (d: Buffer) => resolve(d.toString()));
        ws.once('error', reject);
      });
      expect(JSON.parse(welcome)).toMatchObject({ type: 'welcome' });
      ws.close();

      // every descriptor back once the deadlines (1 s upgrade, 1 s body, the idle clients' 5 s) have passed
      const deadline = Date.now() + 20_000;
      let fds = await server.fds();
      while (fds > baseline + 10 && Date.now() < deadline) {
        await sleep(250);
        fds = await server.fds();
      }
      expect(fds, `seed ${SEED}: descriptors ${fds}, baseline ${baseline}`).toBeLessThanOrEqual(baseline + 10);
      expect(server.alive).toBe(true);
    }, 180_000);
  }
});
