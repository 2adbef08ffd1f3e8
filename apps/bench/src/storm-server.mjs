/**
 * W6 on the server side: the live stream (published on the node that stays up, so it goes on while the clients' node
 * is dead) and what node B spends during the storm (process CPU time, event-loop delay, the peer's own counters).
 * Used by server-main.mjs.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { BENCH_EVENT, makeData } from './payload.mjs';
import { wallNowMs } from './clock.mjs';

/** @type {{ timer: NodeJS.Timeout, seq: Map<string, number>, published: number, stopAt: number } | null} */
let stream = null;

/**
 * Publish `ratePerSec` messages per second in total, round-robin over `channels`, each carrying its channel's own
 * `seq` (1, 2, 3, … per channel: what the clients count lost and duplicated messages by) and its send time `t`.
 * Ticks every 10 ms and publishes what is due; runs until stream-stop (or `maxMs`, so it never outlives a harness).
 * @param {import('./peers/types.mjs').PeerServer} peer
 * @param {{ channels: string[], ratePerSec: number, maxMs: number }} msg
 */
export function streamStart(peer, { channels, ratePerSec, maxMs }) {
  if (stream) throw new Error('the W6 stream is already running');
  if (!(ratePerSec > 0) || channels.length === 0) throw new TypeError('stream-start needs channels and ratePerSec > 0');
  const t0 = wallNowMs();
  /** @type {Map<string, number>} */
  const seq = new Map(channels.map((c) => [c, 0]));
  let ci = 0;
  const s = {
    seq,
    published: 0,
    stopAt: t0 + maxMs,
    timer: setInterval(() => {
      const now = wallNowMs();
      if (now >= s.stopAt) {
        clearInterval(s.timer);
        return;
      }
      const due = Math.floor(((now - t0) / 1000) * ratePerSec) - s.published;
      for (let i = 0; i < due; i++) {
        const channel = /** @type {string} */ (channels[ci]);
        if (++ci === channels.length) ci = 0;
        const n = /** @type {number} */ (seq.get(channel)) + 1;
        seq.set(channel, n);
        peer.publish(channel, BENCH_EVENT, makeData(n, now));
        s.published++;
      }
    }, 10),
  };
  stream = s;
  return { startedAt: t0 };
}

/** Stop the stream; the last `seq` published on each channel (the live head the clients must reach). */
export function streamStop() {
  const s = stream;
  if (!s) throw new Error('the W6 stream is not running');
  clearInterval(s.timer);
  stream = null;
  return { heads: Object.fromEntries(s.seq), published: s.published, stoppedAt: wallNowMs() };
}

/** This process's CPU seconds so far (user + system) and the wall clock: the harness takes B's rate before the kill. */
export function cpuTotal() {
  const cpu = process.cpuUsage();
  return { cpuSec: (cpu.user + cpu.system) / 1e6, wall: wallNowMs() };
}

/** @type {{ cpu: NodeJS.CpuUsage, wall: number, delay: import('node:perf_hooks').IntervalHistogram } | null} */
let storm = null;

/** The storm starts (node A was just killed): from now on, CPU time and event-loop delay are recorded. */
export function stormStart() {
  storm?.delay.disable();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  storm = { cpu: process.cpuUsage(), wall: wallNowMs(), delay };
  return true;
}

/**
 * What this node spent since storm-start: process CPU seconds (user + system, every thread), the event-loop delay
 * (p50/p99/max in ms, sampled every 10 ms) and the peer's own counters.
 * @param {import('./peers/types.mjs').PeerServer | null} peer
 */
export function stormStats(peer) {
  if (!storm) throw new Error('storm-start was not called');
  const cpu = process.cpuUsage(storm.cpu);
  const ms = (/** @type {number} */ ns) => Math.round((ns / 1e6) * 100) / 100;
  const d = storm.delay;
  return {
    cpuSec: (cpu.user + cpu.system) / 1e6,
    userSec: cpu.user / 1e6,
    wallMs: wallNowMs() - storm.wall,
    loopDelayP50Ms: ms(d.percentile(50)),
    loopDelayP99Ms: ms(d.percentile(99)),
    loopDelayMaxMs: ms(d.max),
    peer: peer?.stats?.() ?? null,
  };
}
