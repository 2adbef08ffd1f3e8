/**
 * W6 clients: sockets that lose their node and come back on another the way real clients do, and count by the
 * per-channel `seq` of the payload what they lost and got twice.
 *
 * - `ws` (unisocket native): on the wire what `@unisocket/client` does. Subscribe; remember the `epoch` of the ack and
 *   the `offset` of every message; when the connection drops, wait a random delay within the client's first backoff
 *   step (full jitter, `[0, 500 ms]`, doubling per failed attempt up to 10 s: `reconnect` defaults), connect to the
 *   next URL of the list and subscribe with `since: { epoch, offset }`. A refused subscribe is retried the same way.
 *   Nothing is deduplicated: a message seen twice is counted.
 * - `socketio`: `socket.io-client` with its own reconnection (defaults: 1 s ± 50 %, doubling up to 5 s) and its own
 *   connection state recovery (it sends its session id and last offset). Before each attempt the manager's URL is
 *   moved to the next node. On a connect that did not recover its session (`socket.recovered` false) the client
 *   subscribes again, as an application must.
 *
 * A client counts as **recovered** once it has received, with no gap and no duplicate since its first message, a
 * message published after it reconnected: it then holds everything it missed and is live again.
 */
import { WebSocket } from 'ws';
import { io as ioClient } from 'socket.io-client';
import { wallNowMs } from '../clock.mjs';

/** `@unisocket/client`'s reconnect defaults. */
const RECONNECT = { initialDelayMs: 500, maxDelayMs: 10_000, factor: 2 };
/** No client tries more often than this in one run (bounded: a dead cluster does not spin forever). */
const MAX_ATTEMPTS = 40;

/**
 * One client's counts. `seen` marks the seqs received (index = seq − first).
 */
export class StormCounter {
  /** @param {string} channel */
  constructor(channel) {
    this.channel = channel;
    /** first seq received (-1: none yet) */
    this.first = -1;
    /** highest seq received */
    this.max = -1;
    /** @type {Uint8Array} */
    this.seen = new Uint8Array(64);
    this.received = 0;
    this.duplicates = 0;
    /** a seq arrived that skipped others (at that moment) */
    this.gapped = false;
    /** the connection was lost (node A died) */
    this.lostAt = 0;
    /** the last (re)connection that came up after the loss */
    this.reconnectedAt = 0;
    /** subscribed again (ack, or a recovered Socket.IO session) after the loss */
    this.resumedAt = 0;
    this.recoveredAt = 0;
    /** the server said it could not recover (`recovered: false`, or a Socket.IO session not found) */
    this.notRecovered = 0;
    this.attempts = 0;
    this.refused = 0;
  }

  /** @param {number} seq @param {number} t its publish time */
  onMessage(seq, t) {
    this.received++;
    if (this.first < 0) {
      this.first = seq;
      this.max = seq;
      this.seen[0] = 1;
      return;
    }
    const i = seq - this.first;
    if (i < 0) return; // older than what this client started with: not part of what it is owed
    if (i >= this.seen.length) {
      const grown = new Uint8Array(Math.max(i + 1, this.seen.length * 2));
      grown.set(this.seen);
      this.seen = grown;
    }
    if (this.seen[i]) {
      this.duplicates++;
      return;
    }
    this.seen[i] = 1;
    if (seq > this.max + 1) this.gapped = true;
    if (seq > this.max) this.max = seq;
    if (
      this.reconnectedAt > 0 &&
      this.recoveredAt === 0 &&
      !this.gapped &&
      this.duplicates === 0 &&
      seq === this.max &&
      t >= this.reconnectedAt
    )
      this.recoveredAt = wallNowMs();
  }

  /**
   * Lost = seqs in [first, head] never received.
   * @param {number} head the last seq published on the channel
   */
  lost(head) {
    if (this.first < 0) return 0;
    let n = 0;
    for (let s = this.first; s <= head; s++) if (!this.seen[s - this.first]) n++;
    return n;
  }
}

const MESSAGE_PREFIX = '{"type":"message",';

/**
 * The offset, `seq` and `t` of a unisocket `message` line, read without `JSON.parse` (core's message.ts writes
 * `{"type":"message",…,"data":{"seq":…,"t":…,"p":…},"id":…,"ts":…,"offset":N}`: the offset is the last key): on the
 * load generator's one core, parsing 50,000 lines/s as JSON during a 10,000-client storm saturated it. `undefined` for
 * any other line, which is then parsed as JSON.
 * @param {string} line
 * @returns {{ offset: number, seq: number, t: number } | undefined}
 */
export function readMessageLine(line) {
  if (!line.startsWith(MESSAGE_PREFIX)) return undefined;
  const seqAt = line.indexOf('"seq":');
  const tAt = seqAt < 0 ? -1 : line.indexOf('"t":', seqAt);
  const offsetAt = line.lastIndexOf('"offset":');
  if (seqAt < 0 || tAt < 0 || offsetAt < tAt) return undefined;
  const seq = Number.parseInt(line.slice(seqAt + 6, seqAt + 26), 10);
  const t = Number.parseFloat(line.slice(tAt + 4, tAt + 30));
  const offset = Number.parseInt(line.slice(offsetAt + 9), 10);
  if (!Number.isFinite(seq) || !Number.isFinite(t) || !Number.isFinite(offset)) return undefined;
  return { offset, seq, t };
}

/** @param {number} attempt 1-based */
const backoff = (attempt) =>
  Math.floor(
    Math.random() *
      Math.min(RECONNECT.maxDelayMs, RECONNECT.initialDelayMs * RECONNECT.factor ** Math.max(0, attempt - 1)),
  );

/**
 * @typedef {object} StormSocket
 * @property {StormCounter} counter
 * @property {() => void} close
 */

/**
 * A unisocket native client (see the module comment).
 * @param {string[]} urls the first is where it starts; after every loss it moves to the next (rotating)
 * @param {string} channel
 * @param {string | undefined} localAddress
 * @param {number} timeoutMs for the first subscribe
 * @returns {Promise<StormSocket>}
 */
export function connectNativeStorm(urls, channel, localAddress, timeoutMs) {
  const counter = new StormCounter(channel);
  let epoch = '';
  let offset = -1;
  let urlIndex = 0;
  let stopped = false;
  /** @type {WebSocket | undefined} */
  let current;
  /** @type {NodeJS.Timeout | undefined} */
  let retry;
  return new Promise((resolve, reject) => {
    let first = true;
    const firstTimer = setTimeout(() => {
      stopped = true;
      current?.terminate();
      reject(new Error('subscribe timed out'));
    }, timeoutMs);
    const entry = {
      counter,
      close: () => {
        stopped = true;
        clearTimeout(retry);
        current?.terminate();
      },
    };
    const again = () => {
      if (stopped || counter.attempts >= MAX_ATTEMPTS) return;
      urlIndex = (urlIndex + 1) % urls.length;
      retry = setTimeout(open, backoff(counter.attempts));
    };
    const open = () => {
      if (stopped) return;
      counter.attempts++;
      const ws = new WebSocket(/** @type {string} */ (urls[urlIndex]), {
        perMessageDeflate: false,
        skipUTF8Validation: true,
        ...(localAddress ? { localAddress } : {}),
      });
      current = ws;
      const resuming = offset >= 0;
      let up = false;
      ws.on('open', () => {
        up = true;
        if (resuming) counter.reconnectedAt = wallNowMs();
        /** @type {Record<string, unknown>} */
        const cmd = { type: 'subscribe', channel, ref: 1 };
        if (resuming) cmd.since = { epoch, offset };
        ws.send(JSON.stringify(cmd));
      });
      ws.on('error', (err) => {
        if (first && !up) {
          clearTimeout(firstTimer);
          stopped = true;
          reject(err);
        }
      });
      ws.on('close', () => {
        if (stopped || current !== ws) return;
        if (!first && counter.lostAt === 0) counter.lostAt = wallNowMs();
        again();
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const text = /** @type {Buffer} */ (data).toString();
        for (const line of text.split('\n')) {
          if (line.length < 24 && line.includes('"ping"')) {
            ws.send('{"type":"pong"}');
            continue;
          }
          const message = readMessageLine(line);
          if (message !== undefined) {
            offset = message.offset;
            counter.onMessage(message.seq, message.t);
            continue;
          }
          /** @type {any} */
          let frame;
          try {
            frame = JSON.parse(line);
          } catch {
            continue;
          }
          if (frame.type === 'message') {
            if (typeof frame.offset === 'number') offset = frame.offset;
            const d = frame.data;
            if (d && typeof d.seq === 'number') counter.onMessage(d.seq, d.t);
          } else if (frame.type === 'ack' && frame.ref === 1) {
            if (!resuming) {
              epoch = frame.epoch;
              offset = frame.offset;
            } else {
              counter.resumedAt = wallNowMs();
              if (frame.recovered !== true) counter.notRecovered++;
              // a new epoch or a position the server could not serve: go on from where the server says
              if (frame.recovered !== true && typeof frame.offset === 'number') {
                epoch = frame.epoch;
                offset = frame.offset;
              }
            }
            if (first) {
              first = false;
              clearTimeout(firstTimer);
              resolve(entry);
            }
          } else if (frame.type === 'error' && frame.ref === 1) {
            if (first) {
              clearTimeout(firstTimer);
              stopped = true;
              ws.terminate();
              reject(new Error(`subscribe refused: ${line}`));
              return;
            }
            // refused during the storm (UNAVAILABLE: the recovery queue is full): the client tries again later
            counter.refused++;
            ws.terminate();
            if (current === ws) again();
          }
        }
      });
    };
    open();
  });
}

/**
 * A Socket.IO client with connection state recovery (see the module comment).
 * @param {string[]} urls
 * @param {string} channel
 * @param {string | undefined} localAddress
 * @param {number} timeoutMs
 * @param {string | undefined} path
 * @returns {Promise<StormSocket>}
 */
export function connectSocketIoStorm(urls, channel, localAddress, timeoutMs, path) {
  const counter = new StormCounter(channel);
  let urlIndex = 0;
  const socket = ioClient(/** @type {string} */ (urls[0]), {
    transports: ['websocket'],
    perMessageDeflate: /** @type {any} */ (false),
    forceNew: true,
    reconnectionAttempts: MAX_ATTEMPTS,
    timeout: timeoutMs,
    ...(localAddress ? { localAddress } : {}),
    ...(path ? { path } : {}),
  });
  // before every reconnection attempt, the next node of the list (the manager opens a new engine on `uri`)
  socket.io.on('reconnect_attempt', () => {
    counter.attempts++;
    urlIndex = (urlIndex + 1) % urls.length;
    /** @type {any} */ (socket.io).uri = urls[urlIndex];
  });
  socket.on('disconnect', () => {
    if (counter.lostAt === 0) counter.lostAt = wallNowMs();
  });
  socket.onAny((_event, data) => {
    if (data && typeof data.seq === 'number') counter.onMessage(data.seq, data.t);
  });
  const subscribe = (/** @type {(reply: any) => void} */ then) => socket.emit('subscribe', { channel }, then);
  return new Promise((resolve, reject) => {
    let first = true;
    const timer = setTimeout(() => fail(new Error('subscribe timed out')), timeoutMs);
    /** @param {Error} err */
    const fail = (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    };
    socket.on('connect_error', (err) => {
      if (first) fail(err);
    });
    socket.on('connect', () => {
      if (first) {
        subscribe((reply) => {
          if (reply?.type !== 'ack') {
            fail(new Error(`subscribe refused: ${JSON.stringify(reply)}`));
            return;
          }
          first = false;
          clearTimeout(timer);
          resolve({ counter, close: () => socket.close() });
        });
        return;
      }
      counter.reconnectedAt = wallNowMs();
      if (socket.recovered) {
        counter.resumedAt = counter.reconnectedAt;
        return;
      }
      counter.notRecovered++;
      subscribe(() => {
        counter.resumedAt = wallNowMs();
      });
    });
  });
}

/** @type {StormSocket[]} */
const stormSockets = [];

/**
 * Open one storm client per entry of `channels`, at most `concurrency` handshakes in flight.
 * @param {{ urls: string[], protocol: import('../peers/types.mjs').ClientProtocol, path?: string, channels: string[], localAddress?: string, concurrency?: number, timeoutMs?: number }} msg
 */
export async function stormConnect({
  urls,
  protocol,
  path,
  channels,
  localAddress,
  concurrency = 100,
  timeoutMs = 60_000,
}) {
  if (protocol === 'pusher') throw new TypeError('W6 has no Pusher client: run it with ws or socketio peers');
  const t0 = wallNowMs();
  let next = 0;
  let failed = 0;
  /** @type {string[]} */
  const errors = [];
  const worker = async () => {
    while (next < channels.length) {
      const channel = /** @type {string} */ (channels[next++]);
      try {
        stormSockets.push(
          await (protocol === 'ws'
            ? connectNativeStorm(urls, channel, localAddress, timeoutMs)
            : connectSocketIoStorm(urls, channel, localAddress, timeoutMs, path)),
        );
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, channels.length) }, worker));
  return { connected: stormSockets.length, failed, errors, perChannel: {}, ms: wallNowMs() - t0 };
}

/** How many clients have a live message yet, lost their connection, resumed, recovered. */
export function stormStatus() {
  let live = 0;
  let lost = 0;
  let resumed = 0;
  let recovered = 0;
  let gapped = 0;
  for (const { counter: c } of stormSockets) {
    if (c.first >= 0) live++;
    if (c.lostAt > 0) lost++;
    if (c.resumedAt > 0) resumed++;
    if (c.recoveredAt > 0) recovered++;
    if (c.gapped || c.duplicates > 0) gapped++;
  }
  const cpu = process.cpuUsage();
  return {
    clients: stormSockets.length,
    live,
    lost,
    resumed,
    recovered,
    gapped,
    cpuSec: (cpu.user + cpu.system) / 1e6,
    cpuUserSec: cpu.user / 1e6,
  };
}

/**
 * Whether every client has reached its channel's head.
 * @param {{ heads: Record<string, number> }} msg
 */
export function stormCaughtUp({ heads }) {
  let behind = 0;
  for (const { counter: c } of stormSockets) if (c.max < (heads[c.channel] ?? 0)) behind++;
  return { behind };
}

/**
 * Every client's outcome, relative to `killAt`: ms until it resumed and until it recovered (-1: never), and what it
 * lost and got twice up to its channel's head.
 * @param {{ heads: Record<string, number>, killAt: number }} msg
 */
export function stormResult({ heads, killAt }) {
  /** @type {number[]} */
  const recoveredMs = [];
  /** @type {number[]} */
  const resumedMs = [];
  let lost = 0;
  let duplicates = 0;
  let clientsWithLoss = 0;
  let clientsWithDuplicates = 0;
  let notRecovered = 0;
  let refused = 0;
  let attempts = 0;
  let neverLost = 0;
  for (const { counter: c } of stormSockets) {
    const l = c.lost(heads[c.channel] ?? c.max);
    lost += l;
    duplicates += c.duplicates;
    if (l > 0) clientsWithLoss++;
    if (c.duplicates > 0) clientsWithDuplicates++;
    notRecovered += c.notRecovered;
    refused += c.refused;
    attempts += c.attempts;
    if (c.lostAt === 0) neverLost++;
    // recovered only if nothing is missing up to the head either
    recoveredMs.push(c.recoveredAt > 0 && l === 0 && c.duplicates === 0 ? Math.round(c.recoveredAt - killAt) : -1);
    resumedMs.push(c.resumedAt > 0 ? Math.round(c.resumedAt - killAt) : -1);
  }
  return {
    clients: stormSockets.length,
    recoveredMs,
    resumedMs,
    lost,
    duplicates,
    clientsWithLoss,
    clientsWithDuplicates,
    notRecovered,
    refused,
    attempts,
    neverLost,
  };
}

export function stormClose() {
  for (const s of stormSockets) s.close();
  stormSockets.length = 0;
  return true;
}
