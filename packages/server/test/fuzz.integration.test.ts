/**
 * Hostile-input fuzzing against a live server over real sockets.
 *
 * fast-check generates valid commands and mutates them (field deletion, type swaps, huge strings, deep nesting,
 * prototype keys, unicode and lone surrogates, broken JSON, random bytes, blank and batched lines, huge refs).
 * Every frame must get its replies (one `ack`/`error`/`pong` per command line; `pong` lines get none) or the close
 * the protocol documents for it (1009 over maxPayloadBytes, 1007 invalid UTF-8), while a bystander receives a
 * continuous, gap-free, in-order stream published by another client during the whole run.
 *
 * UNISOCKET_FUZZ_FRAMES (default 100000) and UNISOCKET_FUZZ_SEED (default: random, printed) reproduce a run.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, decodeFrame, UnisocketError } from '@unisocket/core';
import { signChannelToken, signConnectionToken } from '../src/index';
import { RawClient, type TestServer, sleep, startServer } from './helpers';

const FRAMES = Number(process.env.UNISOCKET_FUZZ_FRAMES ?? 100_000);
const SEED = Number(process.env.UNISOCKET_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const LANES = 16;
const MAX_OUTSTANDING = 64;
const MAX_PAYLOAD = 64 * 1024;
const MAX_COMMANDS_PER_FRAME = 100;
const SECRET = 'fuzz-secret-that-is-at-least-32-bytes-long';
const DOCUMENTED_CLOSES = new Set<number>(Object.values(CloseCode));

interface Frame {
  data: string | Uint8Array;
  binary: boolean;
}

// ------------------------------------------------------------------------------------------------
// the oracle: what the protocol promises for a frame, computed independently of the server's codec
// ------------------------------------------------------------------------------------------------

type Prediction = { close: number } | { replies: number };

function isValidRef(value: unknown): boolean {
  return (
    (typeof value === 'string' && value.length <= 64) || (typeof value === 'number' && Number.isSafeInteger(value))
  );
}

/** A line the server answers with nothing: a well-formed `pong`. */
function isSilentPong(line: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return false;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const obj = value as Record<string, unknown>;
  if (!Object.hasOwn(obj, 'type') || obj.type !== 'pong') return false;
  return !Object.hasOwn(obj, 'ref') || isValidRef(obj.ref);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function predict(frame: Frame): Prediction {
  const bytes = typeof frame.data === 'string' ? Buffer.from(frame.data) : Buffer.from(frame.data);
  if (bytes.length > MAX_PAYLOAD) return { close: CloseCode.TOO_LARGE };
  if (frame.binary) return { replies: 1 };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { close: CloseCode.INVALID_PAYLOAD };
  }
  if (!text.includes('\n')) return { replies: isSilentPong(text) ? 0 : 1 };
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return { replies: 1 };
  let replies = 0;
  for (const line of lines.slice(0, MAX_COMMANDS_PER_FRAME)) if (!isSilentPong(line)) replies++;
  if (lines.length > MAX_COMMANDS_PER_FRAME) replies++;
  return { replies };
}

// ------------------------------------------------------------------------------------------------
// generators
// ------------------------------------------------------------------------------------------------

interface Tokens {
  connection: string;
  privateChannel: string;
  presenceChannel: string;
}

function frameArbitrary(tokens: Tokens): fc.Arbitrary<Frame> {
  const ref = fc.oneof(fc.integer({ min: 0, max: 1e6 }), fc.string({ maxLength: 12 }));
  const fuzzChannel = fc.constantFrom('fuzz.a', 'fuzz.b', 'fuzz.c', 'fuzz.d', 'fuzz.e');
  const anyChannel = fc.oneof(
    { weight: 6, arbitrary: fuzzChannel },
    {
      weight: 1,
      arbitrary: fc.constantFrom('private-fuzz', 'presence-fuzz', 'user:fuzzer', 'user:other', 'private-x', '*'),
    },
  );
  const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
  const clean = (o: Record<string, unknown>): Record<string, unknown> => {
    for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
    return o;
  };
  const command: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
    fc
      .record({
        channel: anyChannel,
        ref: opt(ref),
        since: opt(fc.record({ epoch: fc.string({ maxLength: 10 }), offset: fc.nat(200) })),
      })
      .map((c) => clean({ type: 'subscribe', ...c })),
    fc
      .constantFrom(
        { type: 'subscribe', channel: 'private-fuzz', token: tokens.privateChannel },
        { type: 'subscribe', channel: 'presence-fuzz', token: tokens.presenceChannel },
        { type: 'subscribe', channel: 'presence-fuzz', token: `k:${'0'.repeat(64)}`, channelData: '{"user_id":1}' },
      )
      .map((c) => ({ ...c })),
    fc.record({ channel: anyChannel, ref: opt(ref) }).map((c) => clean({ type: 'unsubscribe', ...c })),
    fc
      .record({
        channel: anyChannel,
        event: fc.oneof(fc.constantFrom('say', 'update', 'client-typing'), fc.string({ minLength: 1, maxLength: 20 })),
        data: opt(fc.jsonValue({ maxDepth: 4 })),
        ref: opt(ref),
        id: opt(fc.stringMatching(/^[a-z0-9]{1,12}$/)),
      })
      .map((c) => clean({ type: 'publish', ...c })),
    fc
      .record({ token: fc.constantFrom(tokens.connection, tokens.privateChannel, 'garbage', 'a.b.c'), ref: opt(ref) })
      .map((c) => clean({ type: 'auth', ...c })),
    fc
      .record({ channel: fc.constantFrom('presence-fuzz', 'fuzz.a'), ref: opt(ref) })
      .map((c) => clean({ type: 'presence', ...c })),
    fc.record({ ref: opt(ref) }).map((c) => clean({ type: 'ping', ...c })),
  );

  const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
  const weirdString = fc.string({
    unit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), loneSurrogate),
    maxLength: 40,
  });
  const otherType = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.integer(), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
    fc.string({ maxLength: 10 }),
  );
  const hugeLength = fc.oneof(
    { weight: 30, arbitrary: fc.integer({ min: 1_000, max: 20_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 64_000, max: 80_000 }) },
  );

  type Mutation =
    | { kind: 'none' }
    | { kind: 'delete'; at: number }
    | { kind: 'swap'; at: number; value: unknown }
    | { kind: 'huge'; at: number; length: number; unit: string }
    | { kind: 'deep'; depth: number; object: boolean }
    | { kind: 'proto'; dropType: boolean }
    | { kind: 'unicode'; at: number; value: string }
    | { kind: 'truncate'; at: number }
    | { kind: 'insert'; at: number; text: string }
    | { kind: 'hugeRef'; value: unknown };
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    { weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 3, arbitrary: fc.nat().map((at) => ({ kind: 'delete' as const, at })) },
    {
      weight: 4,
      arbitrary: fc.record({ at: fc.nat(), value: otherType }).map((m) => ({ kind: 'swap' as const, ...m })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ at: fc.nat(), length: hugeLength, unit: fc.string({ minLength: 1, maxLength: 8 }) })
        .map((m) => ({ kind: 'huge' as const, ...m })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({
          depth: fc.oneof(fc.integer({ min: 20, max: 60 }), fc.integer({ min: 1_000, max: 12_000 })),
          object: fc.boolean(),
        })
        .map((m) => ({ kind: 'deep' as const, ...m })),
    },
    { weight: 2, arbitrary: fc.boolean().map((dropType) => ({ kind: 'proto' as const, dropType })) },
    {
      weight: 2,
      arbitrary: fc.record({ at: fc.nat(), value: weirdString }).map((m) => ({ kind: 'unicode' as const, ...m })),
    },
    { weight: 2, arbitrary: fc.nat().map((at) => ({ kind: 'truncate' as const, at })) },
    {
      weight: 2,
      arbitrary: fc
        .record({
          at: fc.nat(),
          text: fc.constantFrom('{', '}', '[', '"', ',', ':', '\\', '\u0000', 'null', '\n', '\r\n'),
        })
        .map((m) => ({ kind: 'insert' as const, ...m })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom<unknown>(2 ** 60, 1e300, -1e300, 1.5, 'r'.repeat(100), {}, [], true)
        .map((value) => ({ kind: 'hugeRef' as const, value })),
    },
  );

  const mutate = (cmd: Record<string, unknown>, m: Mutation): string => {
    const keys = Object.keys(cmd);
    const key = (at: number): string => keys[at % keys.length]!;
    switch (m.kind) {
      case 'none':
        return JSON.stringify(cmd);
      case 'delete':
        delete cmd[key(m.at)];
        return JSON.stringify(cmd);
      case 'swap':
        cmd[key(m.at)] = m.value;
        return JSON.stringify(cmd);
      case 'huge':
        cmd[key(m.at)] = m.unit.repeat(Math.ceil(m.length / m.unit.length)).slice(0, m.length);
        return JSON.stringify(cmd);
      case 'deep': {
        cmd.data = '\u0001DEEP\u0001';
        const nest = m.object
          ? `${'{"a":'.repeat(m.depth)}1${'}'.repeat(m.depth)}`
          : `${'['.repeat(m.depth)}${']'.repeat(m.depth)}`;
        return JSON.stringify(cmd).replace('"\\u0001DEEP\\u0001"', nest);
      }
      case 'proto': {
        if (m.dropType) delete cmd.type;
        const text = JSON.stringify(cmd);
        const inject =
          '"__proto__":{"type":"ping","polluted":true,"channel":"evil"},"constructor":{"prototype":{"polluted":true}},';
        return text === '{}' ? `{${inject.slice(0, -1)}}` : `{${inject}${text.slice(1)}`;
      }
      case 'unicode':
        cmd[key(m.at)] = m.value;
        return JSON.stringify(cmd);
      case 'truncate': {
        const text = JSON.stringify(cmd);
        return text.slice(0, m.at % text.length);
      }
      case 'insert': {
        const text = JSON.stringify(cmd);
        const at = m.at % (text.length + 1);
        return text.slice(0, at) + m.text + text.slice(at);
      }
      case 'hugeRef':
        cmd.ref = m.value;
        return JSON.stringify(cmd);
    }
  };
  const mutated = fc.tuple(command, mutation).map(([cmd, m]) => mutate(cmd, m));
  const mutatedSmall = fc
    .tuple(
      command,
      mutation.filter((m) => m.kind !== 'huge' && m.kind !== 'deep'),
    )
    .map(([cmd, m]) => mutate(cmd, m));

  return fc.oneof(
    { weight: 140, arbitrary: mutated.map((data) => ({ data, binary: false })) },
    {
      weight: 10,
      arbitrary: fc
        .array(fc.oneof({ weight: 8, arbitrary: mutated }, { weight: 1, arbitrary: fc.constantFrom('', ' ', '\t') }), {
          minLength: 2,
          maxLength: 20,
        })
        .map((lines) => ({ data: lines.join('\n'), binary: false })),
    },
    {
      // around maxCommandsPerFrame (100): the lines past it get one LIMIT_EXCEEDED
      weight: 1,
      arbitrary: fc
        .array(mutatedSmall, { minLength: 96, maxLength: 106, size: 'max' })
        .map((lines) => ({ data: lines.join('\n'), binary: false })),
    },
    { weight: 10, arbitrary: weirdString.map((data) => ({ data, binary: false })) },
    { weight: 6, arbitrary: fc.uint8Array({ maxLength: 256 }).map((data) => ({ data, binary: true })) },
    { weight: 4, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((data) => ({ data, binary: false })) },
    { weight: 2, arbitrary: fc.constantFrom('', '\n', '\n\n \n', ' ').map((data) => ({ data, binary: false })) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom('{"type":"pong"}', '{"type":"pong","ref":7}', '{"type":"pong","ref":null}')
        .map((data) => ({ data, binary: false })),
    },
  );
}

// ------------------------------------------------------------------------------------------------
// a fuzzing connection
// ------------------------------------------------------------------------------------------------

interface FuzzStats {
  framesSent: number;
  binaryFrames: number;
  batchedFrames: number;
  repliesExpected: number;
  repliesReceived: number;
  repliesLostToUnexpectedCloses: number;
  closes: Record<number, number>;
  unexpectedCloses: Record<number, number>;
  replyTypes: Record<string, number>;
  errorCodes: Record<string, number>;
  otherFrames: number;
  unparseable: number;
  reconnects: number;
}

class Lane {
  ws!: WebSocket;
  expected = 0;
  received = 0;
  closedWith: number | undefined;
  expectingClose = false;
  #wake: (() => void) | undefined;

  constructor(
    readonly url: string,
    readonly stats: FuzzStats,
  ) {}

  async open(): Promise<void> {
    this.expected = 0;
    this.received = 0;
    this.closedWith = undefined;
    this.expectingClose = false;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve()); // welcome
      ws.once('unexpected-response', () => reject(new Error('fuzz lane refused at upgrade')));
    });
    ws.on('message', (data: Buffer) => {
      for (const line of data.toString().split('\n')) {
        let frame: { type?: unknown; code?: unknown };
        try {
          frame = JSON.parse(line) as typeof frame;
        } catch {
          this.stats.unparseable++;
          continue;
        }
        const type = String(frame.type);
        if (type === 'ack' || type === 'error' || type === 'pong') {
          this.received++;
          this.stats.repliesReceived++;
          this.stats.replyTypes[type] = (this.stats.replyTypes[type] ?? 0) + 1;
          if (type === 'error')
            this.stats.errorCodes[String(frame.code)] = (this.stats.errorCodes[String(frame.code)] ?? 0) + 1;
        } else this.stats.otherFrames++;
      }
      this.#wake?.();
    });
    ws.on('close', (code: number) => {
      this.closedWith = code;
      if (!this.expectingClose) {
        this.stats.unexpectedCloses[code] = (this.stats.unexpectedCloses[code] ?? 0) + 1;
        this.stats.repliesLostToUnexpectedCloses += this.expected - this.received;
      }
      this.#wake?.();
    });
  }

  /** Waits until `predicate` holds, re-checking on every inbound frame or close. */
  async until(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) {
        throw new Error(
          `fuzz lane timed out waiting for ${what} (expected ${this.expected}, received ${this.received}, closed ${String(this.closedWith)}); seed ${SEED}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  async send(frame: Frame): Promise<void> {
    if (this.closedWith !== undefined) {
      this.stats.reconnects++;
      await this.open();
    }
    const prediction = predict(frame);
    this.stats.framesSent++;
    if (frame.binary) this.stats.binaryFrames++;
    else if (typeof frame.data === 'string' && frame.data.includes('\n')) this.stats.batchedFrames++;
    if ('close' in prediction) {
      // settle what is in flight, so the close accounts for exactly this frame
      await this.until(
        () => this.received >= this.expected || this.closedWith !== undefined,
        'replies before a closing frame',
      );
      if (this.closedWith !== undefined) {
        this.stats.reconnects++;
        await this.open();
      }
      this.expectingClose = true;
      this.ws.send(frame.data, { binary: frame.binary });
      await this.until(() => this.closedWith !== undefined, `close ${prediction.close}`);
      expect(
        this.closedWith,
        `close code for a frame of ${Buffer.byteLength(frame.data as string)} bytes; seed ${SEED}`,
      ).toBe(prediction.close);
      expect(this.received, `no reply to a closing frame; seed ${SEED}`).toBe(this.expected);
      this.stats.closes[prediction.close] = (this.stats.closes[prediction.close] ?? 0) + 1;
      return;
    }
    this.expected += prediction.replies;
    this.stats.repliesExpected += prediction.replies;
    this.ws.send(frame.data, { binary: frame.binary });
    if (this.expected - this.received > MAX_OUTSTANDING) {
      await this.until(
        () => this.expected - this.received <= MAX_OUTSTANDING / 2 || this.closedWith !== undefined,
        'replies',
      );
    }
  }

  async drain(): Promise<void> {
    await this.until(() => this.received >= this.expected || this.closedWith !== undefined, 'the last replies');
    expect(this.received, `replies never exceed commands; seed ${SEED}`).toBeLessThanOrEqual(this.expected);
  }
}

// ------------------------------------------------------------------------------------------------

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('hostile input', () => {
  it('the codec never throws and answers every line (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (text) => {
          const results = decodeFrame(text);
          expect(results.length).toBeGreaterThan(0);
          for (const r of results) {
            if (r instanceof UnisocketError) expect(typeof r.message).toBe('string');
            else expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
          }
        },
      ),
      { numRuns: 5_000, seed: SEED },
    );
  }, 60_000);

  it(`survives ${FRAMES} generated and mutated frames from live clients while a bystander's stream flows intact`, async () => {
    const serviceErrors: Error[] = [];
    const s = await startServer({
      limits: { messagesPerSecond: 1_000_000, maxConnectionsPerIp: 1_000 },
      auth: {
        jwt: { secret: SECRET },
        subscriptionTokens: { hmac: { key: 'k', secret: SECRET } },
        authorizeChannel: (_conn, channel, context) => context.kind === 'public' || channel.endsWith('-fuzz'),
      },
      permissions: {
        publish: (conn, channel) =>
          channel.startsWith('fuzz.') || (channel === 'bystander.feed' && conn.userId === 'publisher'),
        whisper: true,
      },
    });
    servers.push(s);
    s.service.on('error', (e) => serviceErrors.push(e));
    const tokens: Tokens = {
      connection: await signConnectionToken({ secret: SECRET, userId: 'fuzzer', expiresIn: '1h' }),
      privateChannel: await signChannelToken({
        secret: SECRET,
        userId: 'fuzzer',
        channel: 'private-fuzz',
        expiresIn: '1h',
      }),
      presenceChannel: await signChannelToken({
        secret: SECRET,
        userId: 'fuzzer',
        channel: 'presence-fuzz',
        expiresIn: '1h',
      }),
    };

    // the bystander and the client that publishes to it
    const bystander = await RawClient.open(s.url);
    expect(await bystander.request({ type: 'subscribe', channel: 'bystander.feed' })).toMatchObject({
      type: 'ack',
      offset: 0,
    });
    const publisher = await RawClient.open(s.url, {
      headers: { authorization: `Bearer ${await signConnectionToken({ secret: SECRET, userId: 'publisher' })}` },
    });
    let published = 0;
    let fuzzing = true;
    const publishing = (async () => {
      while (fuzzing) {
        published++;
        publisher.send({
          type: 'publish',
          channel: 'bystander.feed',
          event: 'tick',
          data: { n: published },
          ref: published,
        });
        await sleep(2);
      }
    })();

    const stats: FuzzStats = {
      framesSent: 0,
      binaryFrames: 0,
      batchedFrames: 0,
      repliesExpected: 0,
      repliesReceived: 0,
      repliesLostToUnexpectedCloses: 0,
      closes: {},
      unexpectedCloses: {},
      replyTypes: {},
      errorCodes: {},
      otherFrames: 0,
      unparseable: 0,
      reconnects: 0,
    };
    const arbitrary = frameArbitrary(tokens);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        const l = new Lane(s.url, stats);
        await l.open();
        const total = Math.floor(FRAMES / LANES) + (lane < FRAMES % LANES ? 1 : 0);
        const chunk = 500;
        for (let done = 0; done < total; done += chunk) {
          const frames = fc.sample(arbitrary, {
            numRuns: Math.min(chunk, total - done),
            seed: SEED + lane * 1_000_003 + done,
          });
          for (const frame of frames) await l.send(frame);
        }
        await l.drain();
        l.expectingClose = true;
        l.ws.close();
      }),
    );
    const fuzzMs = Date.now() - started;
    fuzzing = false;
    await publishing;

    // every publish was acknowledged, and the bystander got each one, once, in order, without a gap
    await publisher.next((f) => f.type === 'ack' && f.ref === published, 10_000);
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 10_000;
      const check = (): void => {
        if (bystander.messages('bystander.feed').length >= published) resolve();
        else if (Date.now() > deadline)
          reject(new Error(`bystander got ${bystander.messages('bystander.feed').length} of ${published}`));
        else setTimeout(check, 20);
      };
      check();
    });
    const feed = bystander.messages('bystander.feed');
    const publisherErrors = publisher.frames.filter((f) => f.type === 'error');

    const report = {
      seed: SEED,
      framesSent: stats.framesSent,
      binaryFrames: stats.binaryFrames,
      batchedFrames: stats.batchedFrames,
      repliesExpected: stats.repliesExpected,
      repliesReceived: stats.repliesReceived,
      replyTypes: stats.replyTypes,
      errorCodes: stats.errorCodes,
      documentedClosesByCode: stats.closes,
      unexpectedClosesByCode: stats.unexpectedCloses,
      repliesLostToUnexpectedCloses: stats.repliesLostToUnexpectedCloses,
      reconnects: stats.reconnects,
      otherServerFrames: stats.otherFrames,
      durationMs: fuzzMs,
      bystanderMessages: feed.length,
      publishedToBystander: published,
    };
    console.log(`fuzz report ${JSON.stringify(report, null, 2)}`);

    expect(stats.framesSent).toBe(FRAMES);
    expect(stats.unparseable).toBe(0);
    expect(stats.repliesReceived + stats.repliesLostToUnexpectedCloses).toBe(stats.repliesExpected);
    for (const code of [...Object.keys(stats.closes), ...Object.keys(stats.unexpectedCloses)].map(Number)) {
      expect(DOCUMENTED_CLOSES.has(code), `close ${code} is documented`).toBe(true);
    }
    expect(stats.unexpectedCloses).toEqual({});
    expect(stats.errorCodes.INTERNAL ?? 0).toBe(0);
    expect(serviceErrors).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'type')).toBe(false);

    expect(publisherErrors).toEqual([]);
    expect(feed.map((m) => (m.data as { n: number }).n)).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect(feed.map((m) => m.offset)).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect(new Set(feed.map((m) => m.id)).size).toBe(published);
    expect(bystander.closed).toBeUndefined();

    // and the server still serves
    const after = await RawClient.open(s.url);
    expect(await after.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(s.service.getHealthStatus().status).toBe('healthy');
  }, 300_000);
});
