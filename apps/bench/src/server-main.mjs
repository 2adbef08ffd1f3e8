/**
 * Server process: runs one peer's server and the harness's publish loops against it.
 * Spawned by the harness with an IPC channel: `node src/server-main.mjs` (add `--expose-gc` for W3).
 * Commands: start, w1, w2, cpu, mem, rss, close, exit; W6: stream-start, stream-stop, cpu-total, storm-start,
 * storm-stats.
 */
import { loadPeer } from './peers/index.mjs';
import { serveRequests } from './proc.mjs';
import { streamStart, streamStop, stormStart, stormStats, cpuTotal } from './storm-server.mjs';
import { BENCH_EVENT, makeData } from './payload.mjs';
import { wallNowMs, sleep } from './clock.mjs';

/** @type {import('./peers/types.mjs').PeerServer | null} */
let server = null;
/** CPU/wall at the start of the last measured publish window (for `cpu`, which includes the drain). */
let windowCpu0 = process.cpuUsage();
let windowWall0 = wallNowMs();

function requireServer() {
  if (!server) throw new Error('server not started');
  return server;
}

/** @param {NodeJS.CpuUsage} cpu @returns {number} seconds */
const cpuSec = (cpu) => (cpu.user + cpu.system) / 1e6;

/** Wait until the wall clock reaches `at` (ms), coarse timer then event-loop turns. */
async function waitUntil(/** @type {number} */ at) {
  for (;;) {
    const left = at - wallNowMs();
    if (left <= 0) return;
    if (left > 2) await sleep(left - 1.5);
    else await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * W1 publish loop: from `startAt`, publish `publishesPerTurn` messages (round-robin over the channels) per
 * event-loop turn, yielding with setImmediate between bursts so the server's I/O keeps running, until
 * `durationMs` has passed. `t` in the payload is the time the burst started.
 * @param {{ channels: string[], startAt: number, durationMs: number, publishesPerTurn: number }} msg
 */
async function runBurst({ channels, startAt, durationMs, publishesPerTurn }) {
  const peer = requireServer();
  await waitUntil(startAt);
  const perChannel = new Array(channels.length).fill(0);
  const cpu0 = process.cpuUsage();
  const wall0 = wallNowMs();
  windowCpu0 = cpu0;
  windowWall0 = wall0;
  const end = startAt + durationMs;
  let seq = 0;
  let ci = 0;
  let turns = 0;
  await new Promise((resolve) => {
    const turn = () => {
      const now = wallNowMs();
      if (now >= end) {
        resolve(undefined);
        return;
      }
      for (let i = 0; i < publishesPerTurn; i++) {
        peer.publish(/** @type {string} */ (channels[ci]), BENCH_EVENT, makeData(seq++, now));
        perChannel[ci]++;
        if (++ci === channels.length) ci = 0;
      }
      turns++;
      setImmediate(turn);
    };
    turn();
  });
  const wall1 = wallNowMs();
  const cpu = process.cpuUsage(cpu0);
  return {
    published: seq,
    perChannel,
    turns,
    startWall: wall0,
    endWall: wall1,
    cpuSec: cpuSec(cpu),
    userSec: cpu.user / 1e6,
    cpuPct: (cpuSec(cpu) / ((wall1 - wall0) / 1000)) * 100,
  };
}

/**
 * W2 publish loop: message i of the run is scheduled at `startAt + i * 1000 / rate` and carries that
 * scheduled time as `t`, whenever it is actually sent, so a server that falls behind shows it in the
 * latencies (no coordinated omission). At most `maxPerTurn` overdue messages are sent per turn.
 * @param {{ channel: string, startAt: number, durationMs: number, rate: number, maxPerTurn?: number }} msg
 */
async function runRate({ channel, startAt, durationMs, rate, maxPerTurn = 64 }) {
  const peer = requireServer();
  const total = Math.floor((durationMs / 1000) * rate);
  const intervalMs = 1000 / rate;
  await waitUntil(startAt);
  const cpu0 = process.cpuUsage();
  const wall0 = wallNowMs();
  windowCpu0 = cpu0;
  windowWall0 = wall0;
  let seq = 0;
  let maxLagMs = 0;
  await new Promise((resolve) => {
    const step = () => {
      const now = wallNowMs();
      let sent = 0;
      while (seq < total) {
        const t = startAt + seq * intervalMs;
        if (t > now) break;
        if (now - t > maxLagMs) maxLagMs = now - t;
        peer.publish(channel, BENCH_EVENT, makeData(seq, t));
        seq++;
        if (++sent === maxPerTurn) break;
      }
      if (seq >= total) {
        resolve(undefined);
        return;
      }
      const wait = startAt + seq * intervalMs - wallNowMs();
      // Timers are ~1 ms coarse: sleep until just before the next slot, then turn the event loop (I/O keeps
      // being served between immediates) so sends start within a few µs of their scheduled time.
      if (wait > 2) setTimeout(step, wait - 1.5);
      else setImmediate(step);
    };
    step();
  });
  const wall1 = wallNowMs();
  const cpu = process.cpuUsage(cpu0);
  return {
    published: seq,
    startWall: wall0,
    endWall: wall1,
    maxLagMs,
    cpuSec: cpuSec(cpu),
    userSec: cpu.user / 1e6,
    cpuPct: (cpuSec(cpu) / ((wall1 - wall0) / 1000)) * 100,
  };
}

/** Heap and RSS after a full GC (several passes, with turns in between so finalizers and weak refs settle). */
async function measureMemory() {
  const gc = /** @type {(() => void) | undefined} */ (globalThis.gc);
  if (!gc) throw new Error('the server process needs --expose-gc for memory measurements');
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(50);
  }
  const m = process.memoryUsage();
  return {
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    rss: m.rss,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}

serveRequests({
  async start(
    /** @type {{ peer: string, broker?: import('./peers/types.mjs').BenchBroker, recovery?: boolean }} */ msg,
  ) {
    const peer = await loadPeer(msg.peer);
    server = await peer.start({
      host: '127.0.0.1',
      port: 0,
      ...(msg.broker ? { broker: msg.broker } : {}),
      ...(msg.recovery ? { recovery: true } : {}),
    });
    return { port: server.port, path: server.path ?? null, pid: process.pid };
  },
  'stream-start': (/** @type {any} */ msg) => streamStart(requireServer(), msg),
  'stream-stop': streamStop,
  'storm-start': stormStart,
  'cpu-total': cpuTotal,
  'storm-stats': () => stormStats(server),
  w1: runBurst,
  w2: runRate,
  /** CPU since the start of the last publish window, up to now (i.e. including the drain). */
  cpu() {
    const wall = wallNowMs();
    return { cpuSec: cpuSec(process.cpuUsage(windowCpu0)), wallMs: wall - windowWall0, now: wall };
  },
  mem: measureMemory,
  /** Resident set size now, without a GC (W5 samples it while publishing). */
  rss: () => process.memoryUsage.rss(),
  /** Close the peer's server (a node on a broker says goodbye to it); `exit` follows. */
  async close() {
    const s = server;
    server = null;
    await s?.close();
    return true;
  },
});
