#!/usr/bin/env node
// Soak: a server (child process, --expose-gc) under steady publishing and connect/disconnect churn for a long time;
// its heap after GC is sampled and must stay flat. Not part of the unit tests.
//
//   pnpm --filter @unisocket/server build && node packages/server/scripts/soak.mjs [--minutes 10] [--clients 200] [--out result.json]
//
// Churn: `--clients` connections at any time, each living 2-20 s: subscribed to `news`, two of twenty rooms, and
// sometimes `ticks.a` (drop-oldest) and `state.a` (coalesce-latest); one in ten stops reading (and lives 30-60 s, so
// its buffers fill); when one ends it closes,
// is dropped without a close frame, or comes back recovering `news` from where it was. Publishing: `news` every 20 ms,
// ten rooms every 50 ms, `ticks.a` (1 KB) every 5 ms, `state.a` every 10 ms.
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { linearFit } from '@unisocket/memory';
import WebSocket from 'ws';

const argv = process.argv.slice(2);
const args = {};
for (let i = 0; i < argv.length; i++) if (argv[i].startsWith('--')) args[argv[i].slice(2)] = argv[i + 1];
const MINUTES = Number(args.minutes ?? 10);
const CLIENTS = Number(args.clients ?? 200);
const SAMPLE_MS = Number(args.sampleMs ?? 15_000);
const WARMUP_MS = Number(args.warmupMs ?? 60_000);
const MiB = 1024 * 1024;

const fixture = fileURLToPath(new URL('../test/fixtures/child-server.mjs', import.meta.url));
const child = fork(fixture, [], {
  execArgv: ['--expose-gc'],
  env: {
    ...process.env,
    FIXTURE_OPTIONS: JSON.stringify({
      limits: { maxConnectionsPerIp: 100_000, maxConnections: 100_000 },
      history: { size: 100 },
      backpressure: {
        policies: [
          { pattern: 'ticks.*', policy: 'drop-oldest' },
          { pattern: 'state.*', policy: 'coalesce-latest', key: 'event' },
        ],
      },
      memory: { sampleIntervalMs: 1_000, leakDetection: { windowMs: 300_000 } },
    }),
  },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});

let nextId = 0;
const pending = new Map();
const events = [];
let readyResolve;
const ready = new Promise((resolve) => (readyResolve = resolve));
child.on('message', (m) => {
  if (m.id !== undefined) {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error !== undefined) p?.reject(new Error(m.error));
    else p?.resolve(m.result);
  } else if (m.event === 'ready') readyResolve(m);
  else if (m.event !== 'disconnect') events.push(m);
});
child.on('exit', (code, signal) => {
  if (!finished) {
    console.error(`server exited early: ${code ?? signal}`);
    process.exit(1);
  }
});
const call = (cmd, a = {}) =>
  new Promise((resolve, reject) => {
    const id = ++nextId;
    pending.set(id, { resolve, reject });
    child.send({ id, cmd, ...a });
  });

let finished = false;
const { port } = await ready;
const url = `ws://127.0.0.1:${port}/ws`;

await call('startTicker', { name: 'news', channel: 'news', intervalMs: 20, size: 200 });
for (let r = 0; r < 10; r++)
  await call('startTicker', { name: `room${r}`, channel: `room.${r}`, intervalMs: 50, size: 100 });
await call('startTicker', { name: 'ticks', channel: 'ticks.a', intervalMs: 5, size: 1000 });
await call('startTicker', { name: 'state', channel: 'state.a', intervalMs: 10, size: 80 });

const counters = {
  opened: 0,
  closed: 0,
  terminated: 0,
  recovered: 0,
  slow: 0,
  received: 0,
  refused: 0,
  serverClosed: {},
};
const live = new Set();
let stopping = false;

function spawn(since) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const client = { ws, news: undefined };
  live.add(client);
  counters.opened++;
  const rooms = [Math.floor(Math.random() * 20), Math.floor(Math.random() * 20)];
  const channels = ['news', `room.${rooms[0]}`, `room.${rooms[1]}`];
  if (Math.random() < 0.3) channels.push('ticks.a');
  if (Math.random() < 0.3) channels.push('state.a');
  const slow = Math.random() < 0.1;
  ws.on('open', () => {
    channels.forEach((channel, i) => {
      const cmd = { type: 'subscribe', channel, ref: i };
      if (channel === 'news' && since !== undefined) cmd.since = since;
      ws.send(JSON.stringify(cmd));
    });
    if (slow) {
      counters.slow++;
      setTimeout(() => ws._socket?.pause(), 500);
    }
  });
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) {
      if (line.startsWith('{"type":"message","channel":"news"')) {
        const m = JSON.parse(line);
        client.news = { epoch: client.epoch, offset: m.offset };
      } else if (line.startsWith('{"type":"ack"') && line.includes('"channel":"news"')) {
        const ack = JSON.parse(line);
        client.epoch = ack.epoch;
        if (ack.recovered === true) counters.recovered++;
        if (client.news === undefined) client.news = { epoch: ack.epoch, offset: ack.offset };
      }
      counters.received++;
    }
  });
  ws.on('unexpected-response', () => counters.refused++);
  ws.on('error', () => {});
  ws.on('close', (code) => {
    counters.serverClosed[code] = (counters.serverClosed[code] ?? 0) + 1;
    live.delete(client);
    if (!stopping) setTimeout(() => spawn(client.next), 0);
  });
  // slow clients stay longer, so their buffers fill past the kernel's and the backpressure policies act
  const lifetime = slow ? 30_000 + Math.random() * 30_000 : 2_000 + Math.random() * 18_000;
  setTimeout(() => {
    const r = Math.random();
    if (r < 0.3) {
      counters.terminated++;
      ws.terminate();
    } else {
      counters.closed++;
      if (r < 0.5 && client.news !== undefined) client.next = client.news; // comes back and recovers
      if (ws.readyState === WebSocket.OPEN) ws.close();
      else ws.terminate();
    }
  }, lifetime);
}

for (let i = 0; i < CLIENTS; i++) {
  spawn();
  if (i % 20 === 0) await new Promise((r) => setTimeout(r, 50));
}

const samples = [];
const started = Date.now();
const take = async () => {
  const s = await call('gc'); // heap after a full GC
  const sample = {
    t: Math.round((Date.now() - started) / 1000),
    heapUsedMiB: round(s.heapUsed / MiB),
    oldGenerationMiB: round(s.oldGenerationUsed / MiB),
    rssMiB: round(s.rss / MiB),
    connections: s.connections,
    historyMessages: s.service.historyMessages,
    bufferedKiB: round(s.service.bufferedBytes / 1024),
    level: s.level,
  };
  samples.push(sample);
  console.log(JSON.stringify(sample));
};
await take();
const timer = setInterval(take, SAMPLE_MS);
await new Promise((r) => setTimeout(r, MINUTES * 60_000));
clearInterval(timer);
await take();
const final = await call('analysis');
const stats = await call('stats');

stopping = true;
for (const c of live) c.ws.terminate();
finished = true;
await call('exit').catch(() => {});

const steady = samples.filter((s) => s.t * 1000 >= WARMUP_MS);
const fit = linearFit(
  steady.map((s) => s.t / 60),
  steady.map((s) => s.heapUsedMiB),
);
const fitAll = linearFit(
  samples.map((s) => s.t / 60),
  samples.map((s) => s.heapUsedMiB),
);
const first = steady[0];
const last = steady[steady.length - 1];
const result = {
  minutes: MINUTES,
  concurrentClients: CLIENTS,
  node: process.version,
  connectionsOpened: stats.stats.totalConnections,
  messagesDelivered: stats.stats.deliveries,
  published: stats.stats.totalBroadcasts,
  clientCounters: counters,
  drops: stats.hub.drops,
  slowConsumers: stats.hub.slowConsumers,
  heapAfterGc: {
    firstSample: samples[0],
    afterWarmup: first,
    end: last,
    min: Math.min(...steady.map((s) => s.heapUsedMiB)),
    max: Math.max(...steady.map((s) => s.heapUsedMiB)),
    slopeMiBPerMinute: round(fit.slope, 4),
    slopeAllSamplesMiBPerMinute: round(fitAll.slope, 4),
    r2: round(fit.r2, 3),
  },
  rss: { afterWarmup: first.rssMiB, end: last.rssMiB, max: Math.max(...steady.map((s) => s.rssMiB)) },
  leakDetector: final.analysis.leak?.reason ?? null,
  memoryLevelChanges: events.filter((e) => e.event === 'level').length,
  samples,
};
if (args.out !== undefined) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
console.log('\n## soak result\n');
console.log(`| | value |\n|---|---|`);
console.log(
  `| duration | ${MINUTES} min, ${CLIENTS} concurrent clients, ${result.connectionsOpened} connections opened |`,
);
console.log(`| published / delivered | ${result.published} / ${result.messagesDelivered} |`);
console.log(
  `| heap after GC, after ${WARMUP_MS / 1000} s warm-up → end | ${first.heapUsedMiB} MiB → ${last.heapUsedMiB} MiB (min ${result.heapAfterGc.min}, max ${result.heapAfterGc.max}) |`,
);
console.log(
  `| slope (least squares, after warm-up) | ${result.heapAfterGc.slopeMiBPerMinute} MiB/min (R² ${result.heapAfterGc.r2}) |`,
);
console.log(`| RSS after warm-up → end (max) | ${first.rssMiB} → ${last.rssMiB} MiB (${result.rss.max}) |`);
console.log(`| leak detector | ${result.leakDetector} |`);
console.log(`| drops / slow consumers | ${JSON.stringify(result.drops)} / ${result.slowConsumers} |`);
process.exit(0);

function round(n, digits = 2) {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
