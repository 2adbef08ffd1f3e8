/**
 * Load-generator process: opens many client sockets to one server, subscribes each to a channel, then counts
 * messages (W1) or records latencies (W2, W4, W5) or just stays idle (W3). For W5 `measure` turns the first sockets
 * into slow consumers: from the window start their TCP sockets stop reading. Spawned by the harness with an IPC channel:
 * `node src/client-main.mjs`. Commands: connect, measure, stats, report, close, exit; W6 (clients/storm.mjs):
 * storm-connect, storm-status, storm-caught-up, storm-result.
 *
 * The hot path is kept lean so the load generator is not the bottleneck: W1 counts messages without parsing
 * them (see clients/lines.mjs, clients/pusher.mjs); the latency workloads read each message's `t` without
 * JSON-parsing it. Pusher peers are driven by `ws` speaking protocol 7 directly: pusher-js keeps per-socket state
 * machines, timers and an event dispatcher per connection, too heavy for thousands of sockets on one core.
 */
import { WebSocket } from 'ws';
import { io as ioClient } from 'socket.io-client';
import { serveRequests } from './proc.mjs';
import { wallNowMs } from './clock.mjs';
import { countMessages, forEachSendTime, payloadOf } from './clients/lines.mjs';
import { PUSHER_PONG, isPusherMessage, isPusherPing, parsePusherEvent, pusherSendTime } from './clients/pusher.mjs';
import { createHistogram, recordMs, encodeHistogram } from './histogram.mjs';
import { stormConnect, stormStatus, stormCaughtUp, stormResult, stormClose } from './clients/storm.mjs';

/** @typedef {'idle' | 'count' | 'latency'} Mode */

const state = {
  /** @type {Mode} */
  mode: 'idle',
  received: 0,
  lastRecv: 0,
  recordFrom: 0,
  recordUntil: Infinity,
  recorded: 0,
  histogram: createHistogram(),
  closedUnexpectedly: 0,
  /** sockets of slow consumers that the server closed (W5: unisocket's `disconnect` backpressure policy) */
  slowClosed: 0,
  /** bytes read by sink sockets (W4: subscribers the server writes to whose frames this process does not parse) */
  sinkBytes: 0,
  closing: false,
  /** @type {{ cpu: NodeJS.CpuUsage, wall: number } | null} */
  windowStart: null,
  /** @type {{ cpu: NodeJS.CpuUsage, wall: number } | null} */
  windowEnd: null,
};

/**
 * One client socket. `slow` sockets are ignored by the counters and stop reading at the window start (W5). `sink`
 * (ws sockets only) turns the socket into a sink for the rest of its life: it keeps reading everything the server
 * writes (the server's work is unchanged) but its bytes are only counted, not parsed as WebSocket frames (W4: the load
 * generator's core must not saturate, which skews the latency it measures).
 * @typedef {{ close: () => void, pause: () => void, slow: boolean, sunk?: boolean, sink?: () => void }} ClientSocket
 */

/** @type {ClientSocket[]} */
const sockets = [];

/** @param {number} t the message's scheduled send time */
function onSendTime(t) {
  state.received++;
  if (t >= state.recordFrom && t < state.recordUntil) {
    recordMs(state.histogram, latencyNow - t);
    state.recorded++;
  }
}
let latencyNow = 0;

/** @param {Buffer} buf */
function onWsFrame(buf) {
  if (state.mode === 'count') {
    const n = countMessages(buf);
    if (n > 0) {
      state.received += n;
      state.lastRecv = wallNowMs();
    }
  } else if (state.mode === 'latency') {
    latencyNow = wallNowMs();
    if (forEachSendTime(buf, onSendTime) > 0) state.lastRecv = latencyNow;
  }
}

/** @param {Buffer} buf one Pusher event (the protocol sends one per WebSocket frame) */
function onPusherFrame(buf) {
  if (state.mode === 'count') {
    if (isPusherMessage(buf)) {
      state.received++;
      state.lastRecv = wallNowMs();
    }
  } else if (state.mode === 'latency') {
    const t = pusherSendTime(buf);
    if (Number.isNaN(t)) return;
    latencyNow = wallNowMs();
    onSendTime(t);
    state.lastRecv = latencyNow;
  }
}

/** @param {any} arg */
function onSocketIoEvent(arg) {
  if (state.mode === 'idle') return;
  const payload = payloadOf(arg);
  if (!payload) return;
  if (state.mode === 'count') {
    state.received++;
    state.lastRecv = wallNowMs();
  } else {
    latencyNow = wallNowMs();
    onSendTime(payload.t);
    state.lastRecv = latencyNow;
  }
}

/**
 * @param {string} url
 * @param {string} channel
 * @param {string | undefined} localAddress
 * @param {number} timeoutMs
 * @returns {Promise<ClientSocket>}
 */
function connectWs(url, channel, localAddress, timeoutMs) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      ...(localAddress ? { localAddress } : {}),
    });
    let subscribed = false;
    /** @type {ClientSocket} */
    const entry = {
      close: () => ws.terminate(),
      // the TCP socket stops reading: the kernel buffers fill, then the server's send buffer does
      pause: () => /** @type {any} */ (ws)._socket?.pause(),
      slow: false,
      sunk: false,
      sink: () => {
        if (entry.sunk) return;
        entry.sunk = true;
        const socket = /** @type {import('node:net').Socket | undefined} */ (/** @type {any} */ (ws)._socket);
        if (!socket) return;
        // ws's own 'data' listener feeds its frame parser: replaced by a byte counter
        socket.removeAllListeners('data');
        socket.on('data', (chunk) => {
          state.sinkBytes += chunk.length;
        });
      },
    };
    const timer = setTimeout(() => fail(new Error('subscribe timed out')), timeoutMs);
    /** @param {Error} err */
    const fail = (err) => {
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', channel, ref: 1 })));
    ws.on('error', (err) => {
      if (!subscribed) fail(err);
    });
    ws.on('close', () => {
      if (!subscribed || state.closing) return;
      if (entry.slow) state.slowClosed++;
      else state.closedUnexpectedly++;
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const buf = /** @type {Buffer} */ (data);
      if (subscribed) {
        if (entry.slow) return;
        // Answer protocol-level JSON pings (unisocket heartbeat) so idle connections stay up.
        if (buf.length < 24 && buf.includes('"ping"')) ws.send('{"type":"pong"}');
        onWsFrame(buf);
        return;
      }
      for (const line of buf.toString().split('\n')) {
        if (line.includes('"type":"ack"')) {
          subscribed = true;
          clearTimeout(timer);
          resolve(entry);
          return;
        }
        if (line.includes('"type":"error"')) {
          fail(new Error(`subscribe refused: ${line}`));
          return;
        }
      }
    });
  });
}

/**
 * A Pusher protocol 7 client on `ws`: wait for `pusher:connection_established`, send `pusher:subscribe`, wait for
 * `pusher_internal:subscription_succeeded`; then count events (one per frame) and answer `pusher:ping`.
 * @param {string} url `ws://host:port/app/{key}?protocol=7`
 * @param {string} channel
 * @param {string | undefined} localAddress
 * @param {number} timeoutMs
 * @returns {Promise<ClientSocket>}
 */
function connectPusher(url, channel, localAddress, timeoutMs) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      ...(localAddress ? { localAddress } : {}),
    });
    let subscribed = false;
    /** @type {ClientSocket} */
    const entry = {
      close: () => ws.terminate(),
      pause: () => /** @type {any} */ (ws)._socket?.pause(),
      slow: false,
    };
    const timer = setTimeout(() => fail(new Error('subscribe timed out')), timeoutMs);
    /** @param {Error} err */
    const fail = (err) => {
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    ws.on('error', (err) => {
      if (!subscribed) fail(err);
    });
    ws.on('close', (code) => {
      if (!subscribed) {
        fail(new Error(`closed with ${code} before subscribing`));
        return;
      }
      if (state.closing) return;
      if (entry.slow) state.slowClosed++;
      else state.closedUnexpectedly++;
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const buf = /** @type {Buffer} */ (data);
      if (subscribed) {
        if (entry.slow) return;
        if (isPusherPing(buf)) ws.send(PUSHER_PONG);
        else onPusherFrame(buf);
        return;
      }
      const event = parsePusherEvent(buf);
      switch (event?.event) {
        case 'pusher:connection_established':
          ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
          return;
        case 'pusher_internal:subscription_succeeded':
          if (event.channel !== channel) return;
          subscribed = true;
          clearTimeout(timer);
          resolve(entry);
          return;
        case 'pusher:error':
        case 'pusher:subscription_error':
          fail(new Error(`subscribe refused: ${buf.toString()}`));
          return;
      }
    });
  });
}

/**
 * @param {string} url
 * @param {string} channel
 * @param {string | undefined} localAddress
 * @param {number} timeoutMs
 * @param {string | undefined} path Socket.IO path (default /socket.io)
 * @returns {Promise<ClientSocket>}
 */
function connectSocketIo(url, channel, localAddress, timeoutMs, path) {
  return new Promise((resolve, reject) => {
    const socket = ioClient(url, {
      transports: ['websocket'],
      // Passed through to the `ws` client; the typings only admit the object form.
      perMessageDeflate: /** @type {any} */ (false),
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
      ...(localAddress ? { localAddress } : {}),
      ...(path ? { path } : {}),
    });
    let subscribed = false;
    /** @type {ClientSocket} */
    const entry = {
      close: () => socket.close(),
      // engine.io-client's websocket transport runs on a `ws` WebSocket in Node: pause its TCP socket
      pause: () => /** @type {any} */ (socket.io.engine)?.transport?.ws?._socket?.pause(),
      slow: false,
    };
    const timer = setTimeout(() => fail(new Error('subscribe timed out')), timeoutMs);
    /** @param {Error} err */
    const fail = (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    };
    socket.on('connect_error', (err) => fail(err));
    socket.on('disconnect', () => {
      if (!subscribed || state.closing) return;
      if (entry.slow) state.slowClosed++;
      else state.closedUnexpectedly++;
    });
    socket.onAny((_event, arg) => {
      if (!entry.slow) onSocketIoEvent(arg);
    });
    socket.on('connect', () => {
      socket.emit('subscribe', { channel }, (/** @type {any} */ reply) => {
        if (reply?.type === 'error' || reply?.code) {
          fail(new Error(`subscribe refused: ${JSON.stringify(reply)}`));
          return;
        }
        subscribed = true;
        clearTimeout(timer);
        resolve(entry);
      });
    });
  });
}

/**
 * Open one socket per entry of `channels` (its channel), at most `concurrency` handshakes in flight.
 * @param {{ url: string, protocol: import('./peers/types.mjs').ClientProtocol, path?: string, channels: string[], localAddress?: string, concurrency?: number, timeoutMs?: number }} msg
 */
async function connectAll({ url, protocol, path, channels, localAddress, concurrency = 100, timeoutMs = 30_000 }) {
  /** @type {(url: string, channel: string, localAddress: string | undefined, timeoutMs: number) => Promise<ClientSocket>} */
  const connect =
    protocol === 'ws'
      ? connectWs
      : protocol === 'pusher'
        ? connectPusher
        : (u, c, a, t) => connectSocketIo(u, c, a, t, path);
  const t0 = wallNowMs();
  let next = 0;
  let failed = 0;
  /** @type {string[]} */
  const errors = [];
  /** @type {Record<string, number>} subscribed sockets per channel */
  const perChannel = {};
  const worker = async () => {
    while (next < channels.length) {
      const channel = /** @type {string} */ (channels[next++]);
      try {
        sockets.push(await connect(url, channel, localAddress, timeoutMs));
        perChannel[channel] = (perChannel[channel] ?? 0) + 1;
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, channels.length) }, worker));
  return { connected: sockets.length, failed, errors, perChannel, ms: wallNowMs() - t0 };
}

serveRequests({
  connect: connectAll,
  'storm-connect': stormConnect,
  'storm-status': stormStatus,
  'storm-caught-up': stormCaughtUp,
  'storm-result': stormResult,
  /**
   * Start counting (`count`) or recording (`latency`, for payloads whose `t` is in [from, until)).
   * CPU use is sampled at `from` and `until` (wall-clock ms): the publish window. `slow` (W5): this many sockets
   * (the first ones) are left out of every count from now on, and stop reading at `from`.
   */
  measure(/** @type {{ mode: Mode, from: number, until: number, slow?: number, measured?: number }} */ msg) {
    // W4: every socket past the first `measured` becomes a sink (ws sockets; the others keep being measured)
    if (msg.measured !== undefined) {
      for (let i = msg.measured; i < sockets.length; i++) /** @type {ClientSocket} */ (sockets[i]).sink?.();
    }
    state.sinkBytes = 0;
    const slow = Math.min(msg.slow ?? 0, sockets.length);
    for (let i = 0; i < sockets.length; i++) /** @type {ClientSocket} */ (sockets[i]).slow = i < slow;
    if (slow > 0) {
      setTimeout(
        () => {
          for (let i = 0; i < slow; i++) /** @type {ClientSocket} */ (sockets[i]).pause();
        },
        Math.max(0, msg.from - wallNowMs()),
      );
    }
    state.slowClosed = 0;
    state.mode = msg.mode;
    state.received = 0;
    state.recorded = 0;
    state.lastRecv = 0;
    state.recordFrom = msg.from;
    state.recordUntil = msg.until;
    state.histogram = createHistogram();
    state.windowStart = null;
    state.windowEnd = null;
    setTimeout(
      () => (state.windowStart = { cpu: process.cpuUsage(), wall: wallNowMs() }),
      Math.max(0, msg.from - wallNowMs()),
    );
    setTimeout(
      () => (state.windowEnd = { cpu: process.cpuUsage(), wall: wallNowMs() }),
      Math.max(0, msg.until - wallNowMs()),
    );
    return true;
  },
  stats() {
    return {
      received: state.received,
      lastRecv: state.lastRecv,
      closedUnexpectedly: state.closedUnexpectedly,
      slowClosed: state.slowClosed,
    };
  },
  report() {
    const start = state.windowStart;
    const end = state.windowEnd ?? { cpu: process.cpuUsage(), wall: wallNowMs() };
    let cpuPct = NaN;
    let cpuSysPct = NaN;
    let cpuUserSec = 0;
    if (start) {
      cpuUserSec = (end.cpu.user - start.cpu.user) / 1e6;
      const seconds = (end.wall - start.wall) / 1000;
      cpuPct = ((end.cpu.user - start.cpu.user + end.cpu.system - start.cpu.system) / 1e6 / seconds) * 100;
      cpuSysPct = ((end.cpu.system - start.cpu.system) / 1e6 / seconds) * 100;
    }
    const result = {
      pid: process.pid,
      sockets: sockets.length,
      received: state.received,
      lastRecv: state.lastRecv,
      recorded: state.recorded,
      cpuPct,
      cpuSysPct,
      cpuUserSec,
      closedUnexpectedly: state.closedUnexpectedly,
      slow: sockets.filter((x) => x.slow).length,
      slowClosed: state.slowClosed,
      sinks: sockets.filter((x) => x.sunk === true).length,
      sinkBytes: state.sinkBytes,
      histogram: state.mode === 'latency' ? encodeHistogram(state.histogram) : null,
    };
    state.mode = 'idle';
    return result;
  },
  close() {
    state.closing = true;
    stormClose();
    for (const s of sockets) s.close();
    sockets.length = 0;
    return true;
  },
});
