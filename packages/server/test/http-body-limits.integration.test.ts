import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { httpBodyUsage } from '../src/http';
import { type UnifiedWebSocketServiceOptions, createUnifiedWebSocketService } from '../src/index';
import { type TestServer, sleep, startServer, waitFor } from './helpers';

/**
 * Issue 13, fault 4: request bodies are bounded per request and in total. Real sockets against a plain node:http
 * server with the service attached; raw TCP clients so that bodies can be half-sent, trickled, stalled and reset.
 */

const API_KEY = 'body-limits-key-0123456789';
const KiB = 1024;
const MiB = 1024 * KiB;

const servers: TestServer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(http: NonNullable<UnifiedWebSocketServiceOptions['http']>): Promise<TestServer> {
  const server = await startServer({ http: { apiKey: API_KEY, ...http } });
  servers.push(server);
  return server;
}

function usage(t: TestServer) {
  const u = httpBodyUsage(t.service);
  if (u === undefined) throw new Error('the HTTP API keeps no body accounting');
  return u;
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** A raw HTTP/1.1 client on one socket: write the head and body parts as you like, read the answer and the close. */
class RawRequest {
  readonly socket: Socket;
  readonly startedAt = Date.now();
  response: RawResponse | undefined;
  respondedAt: number | undefined;
  closedAt: number | undefined;
  #data = Buffer.alloc(0);
  readonly responded: Promise<RawResponse>;
  readonly closed: Promise<number>;

  constructor(port: number, head: Record<string, string | number>, path = '/broadcast') {
    this.socket = connect(port, '127.0.0.1');
    sockets.push(this.socket);
    this.socket.on('error', () => {}); // resets after the answer are expected
    this.responded = new Promise((resolve, reject) => {
      this.socket.on('data', (chunk: Buffer) => {
        this.#data = Buffer.concat([this.#data, chunk]);
        const parsed = parseResponse(this.#data);
        if (parsed !== undefined && this.response === undefined) {
          this.response = parsed;
          this.respondedAt = Date.now();
          resolve(parsed);
        }
      });
      this.socket.on('close', () => {
        if (this.response === undefined)
          reject(new Error(`closed without an answer; got ${JSON.stringify(this.#data.toString())}`));
      });
    });
    this.responded.catch(() => {});
    this.closed = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.closedAt = Date.now();
        resolve(this.closedAt - this.startedAt);
      }),
    );
    const lines = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(head).map(([k, v]) => `${k}: ${v}`)];
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  }

  write(part: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(part, () => resolve());
    });
  }

  /** One chunk of a `Transfer-Encoding: chunked` body. */
  writeChunk(part: string | Buffer): Promise<void> {
    const buf = typeof part === 'string' ? Buffer.from(part) : part;
    return this.write(Buffer.concat([Buffer.from(`${buf.length.toString(16)}\r\n`), buf, Buffer.from('\r\n')]));
  }
}

function parseResponse(data: Buffer): RawResponse | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine, ...lines] = data.subarray(0, end).toString().split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  if (data.length < end + 4 + length) return undefined;
  const text = data.subarray(end + 4, end + 4 + length).toString();
  return {
    status: Number(statusLine!.split(' ')[1]),
    headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

/** Answered, or its connection closed by the server. */
const settled = (r: RawRequest): boolean => r.response !== undefined || r.closedAt !== undefined;

const authJson = { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' };
const good = JSON.stringify({ channel: 'news', event: 'e', data: 1 });

async function post(
  t: TestServer,
  body: string,
  headers: Record<string, string> = authJson,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${t.baseUrl}/broadcast`, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** `{"channel":"news","event":"e","data":"xxx…` of exactly `n` bytes: the start of a valid body. */
function bodyStart(n: number): Buffer {
  const prefix = '{"channel":"news","event":"e","data":"';
  return Buffer.concat([Buffer.from(prefix), Buffer.alloc(n - prefix.length, 'x')]);
}

describe('HTTP body limits', () => {
  it('413 at once from Content-Length, before any body byte is sent; the message names the limit and the option', async () => {
    const t = await start({ maxBodyBytes: 4096 });
    const req = new RawRequest(t.port, { ...authJson, 'Content-Length': 5000 });
    const res = await req.responded; // no body byte written
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({
      error: 'PAYLOAD_TOO_LARGE',
      message: expect.stringMatching(/4096 bytes.*http\.maxBodyBytes/),
    });
    expect(res.headers.connection).toBe('close');
    await req.closed;
    expect(usage(t)).toMatchObject({ pendingBytes: 0, activeBodies: 0 });
    expect((await post(t, good)).status).toBe(202);
  });

  it('413 from streamed bytes without Content-Length (chunked), and the connection is closed', async () => {
    const t = await start({ maxBodyBytes: 4096 });
    const req = new RawRequest(t.port, { ...authJson, 'Transfer-Encoding': 'chunked' });
    await req.writeChunk(bodyStart(3000));
    await sleep(50);
    expect(usage(t)).toMatchObject({ pendingBytes: 3000, activeBodies: 1 });
    await req.writeChunk(Buffer.alloc(3000, 'y')); // never ended
    const res = await req.responded;
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({
      error: 'PAYLOAD_TOO_LARGE',
      message: expect.stringMatching(/http\.maxBodyBytes/),
    });
    await req.closed;
    expect(usage(t)).toMatchObject({ pendingBytes: 0, activeBodies: 0 });
    expect((await post(t, good)).status).toBe(202);
  });

  it('many concurrent half-sent bodies with the valid key: bytes held stay within http.maxPendingBodyBytes, the rest get 503', async () => {
    const cap = 4 * MiB;
    const t = await start({
      maxBodyBytes: MiB,
      maxPendingBodyBytes: cap,
      maxConcurrentBodies: 10_000,
      bodyTimeoutMs: 60_000,
    });
    const N = 100;
    const half = bodyStart(512 * KiB);
    const baseline = process.memoryUsage().arrayBuffers;
    let peakArrayBuffers = baseline;
    let peakAccounted = 0;
    const sampler = setInterval(() => {
      peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers);
      peakAccounted = Math.max(peakAccounted, httpBodyUsage(t.service)?.pendingBytes ?? 0);
    }, 5);
    const reqs: RawRequest[] = [];
    try {
      for (let i = 0; i < N; i++) {
        const req = new RawRequest(t.port, { ...authJson, 'Content-Length': MiB });
        reqs.push(req);
        void req.write(half); // half of the declared body, then nothing
      }
      // every request is either refused (answered, or its connection closed) or holding its reservation
      await waitFor(
        () => reqs.filter(settled).length + (httpBodyUsage(t.service)?.activeBodies ?? 0) === N,
        20_000,
        'every body refused or being read',
      );
      await sleep(300);
    } finally {
      clearInterval(sampler);
    }
    // a refused client still sending may see its answer lost to the reset of the closed connection (TCP): count both
    const refused = reqs.filter(settled);
    for (const r of refused) if (r.response !== undefined) expect(r.response.status).toBe(503);
    // without the total cap every body is read: none refused, and ~50 MiB held
    expect(refused.length).toBeGreaterThanOrEqual(N - cap / MiB);
    expect(peakArrayBuffers - baseline).toBeLessThan(cap + 24 * MiB);
    const u = usage(t);
    expect(u.peakPendingBytes).toBeLessThanOrEqual(cap);
    expect(peakAccounted).toBeLessThanOrEqual(cap);
    expect(u.pendingBytes).toBe(cap); // four 1 MiB reservations
    expect(u.activeBodies).toBe(cap / MiB);
    const answered = refused.find((r) => r.response !== undefined)?.response;
    if (answered !== undefined) {
      expect(answered.headers['retry-after']).toBe('1');
      expect(answered.headers.connection).toBe('close');
    }
    // refused connections are closed
    await Promise.all(refused.map((q) => q.closed));

    // while over the cap, a later (small, fully sent) request is refused too
    const later = await post(t, good);
    expect(later.status).toBe(503);
    expect(later.headers.get('retry-after')).toBe('1');
    expect(later.body).toMatchObject({
      error: 'UNAVAILABLE',
      message: expect.stringMatching(/4194304 bytes .*\(http\.maxPendingBodyBytes\): retry later/),
    });

    // the stalled clients go away (reset mid-body): everything is released, and the API works again
    for (const q of reqs) q.socket.resetAndDestroy();
    await waitFor(
      () => usage(t).pendingBytes === 0 && usage(t).activeBodies === 0,
      10_000,
      'the body accounting back to 0',
    );
    expect((await post(t, good)).status).toBe(202);
  }, 60_000);

  it('chunked bodies are accounted as their bytes arrive, within the same total', async () => {
    const cap = 4 * MiB;
    const part = 256 * KiB;
    const t = await start({
      maxBodyBytes: MiB,
      maxPendingBodyBytes: cap,
      maxConcurrentBodies: 10_000,
      bodyTimeoutMs: 60_000,
    });
    const N = 40;
    const reqs: RawRequest[] = [];
    for (let i = 0; i < N; i++) {
      const req = new RawRequest(t.port, { ...authJson, 'Transfer-Encoding': 'chunked' });
      reqs.push(req);
      void req.writeChunk(bodyStart(part));
    }
    await waitFor(
      () => reqs.filter(settled).length + usage(t).pendingBytes / part === N,
      20_000,
      'every chunked body refused or fully held',
    );
    const u = usage(t);
    expect(u.peakPendingBytes).toBeLessThanOrEqual(cap);
    expect(u.pendingBytes).toBeLessThanOrEqual(cap);
    expect(reqs.filter(settled).length).toBeGreaterThanOrEqual(N - cap / part);
    for (const r of reqs.filter((q) => q.response !== undefined)) {
      expect(r.response!.status).toBe(503);
      expect(r.response!.body).toMatchObject({ message: expect.stringMatching(/http\.maxPendingBodyBytes/) });
    }
    // the total is full: even a held body cannot grow; once the others go away, it can complete
    const held = reqs.filter((q) => !settled(q));
    expect(held.length).toBeGreaterThan(1);
    for (const q of held.slice(1)) q.socket.destroy();
    await waitFor(() => usage(t).pendingBytes === part && usage(t).activeBodies === 1, 10_000, 'one body held');
    await held[0]!.writeChunk('"}');
    await held[0]!.write('0\r\n\r\n');
    expect((await held[0]!.responded).status).toBe(202);
    for (const q of reqs) q.socket.destroy();
    await waitFor(
      () => usage(t).pendingBytes === 0 && usage(t).activeBodies === 0,
      10_000,
      'the body accounting back to 0',
    );
  }, 60_000);

  it('http.maxConcurrentBodies: a body over the count gets 503 with Retry-After', async () => {
    const t = await start({ maxConcurrentBodies: 3, bodyTimeoutMs: 60_000 });
    const stalled = [0, 1, 2].map(() => new RawRequest(t.port, { ...authJson, 'Content-Length': 100 }));
    await waitFor(() => usage(t).activeBodies === 3, 5_000, 'three bodies being read');
    const res = await post(t, good);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.body).toMatchObject({
      error: 'UNAVAILABLE',
      message: expect.stringMatching(/http\.maxConcurrentBodies/),
    });
    for (const s of stalled) s.socket.destroy();
    await waitFor(
      () => usage(t).activeBodies === 0 && usage(t).pendingBytes === 0,
      5_000,
      'the body accounting back to 0',
    );
    expect((await post(t, good)).status).toBe(202);
  });

  it('a stalled body gets 408 and its connection is closed within http.bodyTimeoutMs (plus a margin)', async () => {
    const timeout = 600;
    const t = await start({ bodyTimeoutMs: timeout });
    const req = new RawRequest(t.port, { ...authJson, 'Content-Length': 100 });
    await req.write('{"channel":"ne'); // and nothing more
    const res = await req.responded;
    expect(res.status).toBe(408);
    expect(res.body).toMatchObject({
      error: 'BAD_REQUEST',
      message: expect.stringMatching(/600 ms \(http\.bodyTimeoutMs\)/),
    });
    expect(res.headers.connection).toBe('close');
    const closedAfter = await req.closed;
    expect(req.respondedAt! - req.startedAt).toBeGreaterThanOrEqual(timeout - 50);
    expect(closedAfter).toBeLessThan(timeout + 3_000);
    expect(usage(t)).toMatchObject({ pendingBytes: 0, activeBodies: 0, timedOut: 1 });
  });

  it('the timeout is a total, not an idle one: a trickling chunked body is cut too', async () => {
    const timeout = 600;
    const t = await start({ bodyTimeoutMs: timeout });
    const req = new RawRequest(t.port, { ...authJson, 'Transfer-Encoding': 'chunked' });
    const trickle = setInterval(() => void req.writeChunk('x'), 50);
    try {
      const res = await req.responded;
      expect(res.status).toBe(408);
      expect(await req.closed).toBeLessThan(timeout + 3_000);
    } finally {
      clearInterval(trickle);
    }
    expect(usage(t)).toMatchObject({ pendingBytes: 0, activeBodies: 0 });
  });

  it('clients resetting mid-body release what they held and do not hurt the server', async () => {
    const t = await start({ bodyTimeoutMs: 60_000 });
    const reqs: RawRequest[] = [];
    for (let i = 0; i < 30; i++) {
      const req = new RawRequest(
        t.port,
        i % 2 === 0 ? { ...authJson, 'Content-Length': 10_000 } : { ...authJson, 'Transfer-Encoding': 'chunked' },
      );
      reqs.push(req);
      if (i % 2 === 0) void req.write(bodyStart(5_000));
      else void req.writeChunk(bodyStart(5_000));
    }
    await waitFor(
      () => usage(t).activeBodies === 30 && usage(t).pendingBytes === 15 * 10_000 + 15 * 5_000,
      5_000,
      'thirty bodies being read',
    );
    for (const [i, q] of reqs.entries()) {
      if (i % 3 === 0) q.socket.resetAndDestroy();
      else q.socket.destroy();
    }
    await waitFor(
      () => usage(t).pendingBytes === 0 && usage(t).activeBodies === 0,
      5_000,
      'the body accounting back to 0',
    );
    expect((await post(t, good)).status).toBe(202);
    expect(usage(t)).toMatchObject({ pendingBytes: 0, activeBodies: 0 });
  });

  it('401 stays immediate: answered before the body arrives, nothing accounted, and the discarded body is bounded', async () => {
    const t = await start({ maxBodyBytes: 64 * KiB, bodyTimeoutMs: 60_000 });
    const req = new RawRequest(t.port, { 'Content-Type': 'application/json', 'Content-Length': MiB });
    const res = await req.responded; // no body byte written
    expect(res.status).toBe(401);
    expect(req.respondedAt! - req.startedAt).toBeLessThan(1_000);
    expect(usage(t)).toMatchObject({ pendingBytes: 0, activeBodies: 0 });
    // the client sends its big body anyway: past http.maxBodyBytes discarded, the connection is closed
    void req.write(Buffer.alloc(256 * KiB, 'x'));
    expect(await req.closed).toBeLessThan(5_000);

    // a small unauthorized body keeps the connection usable (keep-alive)
    const small = await post(t, good, { 'Content-Type': 'application/json' });
    expect(small.status).toBe(401);
    expect(usage(t)).toMatchObject({ pendingBytes: 0, activeBodies: 0 });
  });

  it('a body discarded after 401 that stalls is closed after http.bodyTimeoutMs', async () => {
    const t = await start({ bodyTimeoutMs: 500 });
    const req = new RawRequest(t.port, { 'Content-Type': 'application/json', 'Content-Length': 1000 });
    expect((await req.responded).status).toBe(401);
    await req.write('{"a":');
    expect(await req.closed).toBeLessThan(500 + 3_000);
  });

  it('refuses bad body options with a TypeError that says what to change', () => {
    const make = (http: NonNullable<UnifiedWebSocketServiceOptions['http']>) => () =>
      createUnifiedWebSocketService({ http });
    expect(make({ maxPendingBodyBytes: 0 })).toThrow(/http\.maxPendingBodyBytes must be a positive integer/);
    expect(make({ maxPendingBodyBytes: 1.5 })).toThrow(TypeError);
    expect(make({ maxConcurrentBodies: -1 })).toThrow(/http\.maxConcurrentBodies must be a positive integer/);
    expect(make({ bodyTimeoutMs: 0 })).toThrow(/http\.bodyTimeoutMs must be an integer from 1/);
    expect(make({ bodyTimeoutMs: Number.POSITIVE_INFINITY })).toThrow(/http\.bodyTimeoutMs/);
    expect(make({ maxBodyBytes: 2 * MiB, maxPendingBodyBytes: MiB })).toThrow(
      /raise http\.maxPendingBodyBytes or lower http\.maxBodyBytes/,
    );
    // a larger maxBodyBytes alone raises the default total with it
    const service = createUnifiedWebSocketService({ http: { maxBodyBytes: 32 * MiB } });
    expect(httpBodyUsage(service)).toMatchObject({ pendingBytes: 0 });
    expect(make({ maxPendingBodyBytes: 64 * MiB, maxConcurrentBodies: 10, bodyTimeoutMs: 1 })).not.toThrow();
  });
});
