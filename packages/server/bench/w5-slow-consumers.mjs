#!/usr/bin/env node
// W5 (BENCHMARKS.md): 1% of the clients stop reading during W2; the server's RSS stays bounded and the others' p99 stays
// within 2x of W2.
//
// `measureW5(target, options)` is the measurement, independent of the server under test, for apps/bench to drop in:
// the harness gives it a way to open a subscriber, to start and stop the fixed-rate publisher and to read the server's
// RSS. Run as a script, it measures unisocket's native transport (a server in a child process, the test fixture):
//
//   pnpm build && node packages/server/bench/w5-slow-consumers.mjs [--subscribers 1000] [--rate 100] [--payload 100]
//     [--seconds 10] [--warmup 3] [--out w5.json]
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

/**
 * @typedef {object} W5Target
 * @property {(index: number) => Promise<import('ws').WebSocket>} open  opens one subscriber to the measured channel
 *   (resolves once it is subscribed); its messages carry the scheduled send time somewhere in the payload
 * @property {(text: string) => number[]} scheduledTimes  the scheduled send times (epoch ms, hi-res) in one frame's text
 * @property {() => Promise<void>} startPublishing  starts the fixed-rate publisher
 * @property {() => Promise<void>} stopPublishing
 * @property {() => Promise<number>} readRss  the server's RSS in bytes
 */

/**
 * Runs a discarded warm-up, W2 (every subscriber reads) and then W5 (the same with `slowFraction` of them paused: their
 * TCP sockets stop reading) for `seconds` each, measuring the fast subscribers' latency from the scheduled send time
 * and sampling the server's RSS every 250 ms.
 * @param {W5Target} target
 * @param {{ subscribers?: number, slowFraction?: number, seconds?: number, warmupSeconds?: number }} [options]
 */
export async function measureW5(target, options = {}) {
  const subscribers = options.subscribers ?? 1000;
  const slowCount = Math.max(1, Math.round(subscribers * (options.slowFraction ?? 0.01)));
  const seconds = options.seconds ?? 10;
  const warmup = (options.warmupSeconds ?? 2) * 1000;
  let recording = false;
  let latencies = [];
  const sockets = [];
  const step = Math.floor(subscribers / slowCount); // the slow ones are spread evenly
  for (let i = 0; i < subscribers; i++) {
    const ws = await target.open(i);
    const slow = i % step === 0 && i / step < slowCount;
    ws.on('message', (data) => {
      if (!recording || slow) return;
      const now = performance.timeOrigin + performance.now();
      for (const s of target.scheduledTimes(data.toString())) latencies.push(now - s);
    });
    sockets.push({ ws, slow });
  }
  const rssSeries = [];
  const phase = async (name) => {
    latencies = [];
    const rss = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        rss.push(await target.readRss());
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    await target.startPublishing();
    await new Promise((r) => setTimeout(r, warmup));
    recording = true;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    recording = false;
    await target.stopPublishing();
    sampling = false;
    await sampler;
    rssSeries.push({ name, rss });
    const sorted = latencies.sort((a, b) => a - b);
    return {
      samples: sorted.length,
      p50: pct(sorted, 50),
      p99: pct(sorted, 99),
      p999: pct(sorted, 99.9),
      rssStartMiB: mib(rss[0]),
      rssMaxMiB: mib(Math.max(...rss)),
      rssEndMiB: mib(rss[rss.length - 1]),
    };
  };
  // a discarded run first: the server's heap, JIT and socket buffers reach their steady state before W2 is measured
  await phase('warm-up');
  rssSeries.length = 0;
  const w2 = await phase('W2');
  for (const s of sockets) if (s.slow) s.ws._socket.pause();
  const w5 = await phase('W5');
  for (const s of sockets) s.ws.terminate();
  return {
    subscribers,
    slowSubscribers: slowCount,
    seconds,
    w2,
    w5,
    p99Ratio: Math.round((w5.p99 / w2.p99) * 100) / 100,
    rssGrowthMiB: Math.round((w5.rssMaxMiB - w2.rssMaxMiB) * 10) / 10,
    rssSeries,
  };
}

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] * 100) / 100;
}

function mib(bytes) {
  return Math.round((bytes / (1024 * 1024)) * 10) / 10;
}

// ------------------------------------------------------------------------------------------------
// the script: unisocket native, the server in a child process
// ------------------------------------------------------------------------------------------------

async function main() {
  const args = Object.fromEntries(
    process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
  );
  const rate = Number(args.rate ?? 100);
  const payload = Number(args.payload ?? 100);
  const fixture = fileURLToPath(new URL('../test/fixtures/child-server.mjs', import.meta.url));
  const child = fork(fixture, [], {
    env: { ...process.env, FIXTURE_OPTIONS: JSON.stringify({ limits: { maxConnectionsPerIp: 100_000, maxConnections: 100_000 } }) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let id = 0;
  const pending = new Map();
  let onReady;
  const ready = new Promise((r) => (onReady = r));
  child.on('message', (m) => {
    if (m.id !== undefined) {
      pending.get(m.id)?.(m.result);
      pending.delete(m.id);
    } else if (m.event === 'ready') onReady(m);
  });
  const call = (cmd, a = {}) => new Promise((resolve) => (pending.set(++id, resolve), child.send({ id, cmd, ...a })));
  const { port } = await ready;
  const url = `ws://127.0.0.1:${port}/ws`;
  // every 5 ms, the messages due at `rate` per second
  const intervalMs = 5;
  const target = {
    open: () =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        ws.once('open', () => ws.send('{"type":"subscribe","channel":"w5","ref":1}'));
        const onAck = (data) => {
          if (!data.toString().includes('"type":"ack"')) return;
          ws.off('message', onAck);
          resolve(ws);
        };
        ws.on('message', onAck);
        ws.once('error', reject);
      }),
    scheduledTimes: (text) => {
      const out = [];
      for (let i = text.indexOf('"s":'); i >= 0; i = text.indexOf('"s":', i + 4)) out.push(Number.parseFloat(text.slice(i + 4, i + 30)));
      return out;
    },
    startPublishing: () => call('startTicker', { name: 'w5', channel: 'w5', intervalMs, perInterval: (rate * intervalMs) / 1000, size: payload }),
    stopPublishing: () => call('stopTicker', { name: 'w5' }),
    readRss: async () => (await call('snapshot')).rss,
  };
  const result = await measureW5(target, {
    subscribers: Number(args.subscribers ?? 1000),
    seconds: Number(args.seconds ?? 10),
    warmupSeconds: Number(args.warmup ?? 3),
  });
  result.ratePerSecond = rate;
  result.payloadBytes = payload;
  result.server = 'unisocket native (memory broker, default limits and policies)';
  await call('exit');
  if (args.out !== undefined) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
  const { rssSeries: _series, ...summary } = result;
  console.log(JSON.stringify(summary, null, 2));
  console.log(
    `\n| run | p50 ms | p99 ms | p99.9 ms | server RSS max MiB |\n|---|---|---|---|---|\n` +
      `| W2 (${result.subscribers} subscribers, ${rate} msg/s) | ${result.w2.p50} | ${result.w2.p99} | ${result.w2.p999} | ${result.w2.rssMaxMiB} |\n` +
      `| W5 (${result.slowSubscribers} stop reading) | ${result.w5.p50} | ${result.w5.p99} | ${result.w5.p999} | ${result.w5.rssMaxMiB} |\n` +
      `\nW5 p99 / W2 p99 = ${result.p99Ratio} (target <= 2); RSS growth ${result.rssGrowthMiB} MiB`,
  );
  process.exit(0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
