/**
 * W3b server process: one peer over `node:cluster` workers sharing a port, run with `runCluster` from
 * `@unisocket/server` the way the CLI runs `WORKERS=2`. The primary talks to the harness over IPC (commands: start,
 * mem, close, exit) and to its workers over theirs; every worker runs the peer (`clusterWorker: true`: Socket.IO with
 * `@socket.io/cluster-adapter`, unisocket on its Redis broker) and answers `mem` with its heap and RSS after gc().
 * Spawned by the harness with `--expose-gc`, which the workers inherit.
 */
import cluster from 'node:cluster';
import { createServer } from 'node:net';
import { runCluster } from '@unisocket/server';
import { loadPeer } from './peers/index.mjs';
import { serveRequests } from './proc.mjs';
import { sleep } from './clock.mjs';

const ENV = 'UNISOCKET_BENCH_W3B';

/** Heap and RSS after a full GC (several passes, with turns in between). */
async function measureMemory() {
  const gc = /** @type {(() => void) | undefined} */ (globalThis.gc);
  if (!gc) throw new Error('the W3b workers need --expose-gc for memory measurements');
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(50);
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external };
}

/** A free loopback port: bound, read, released (the workers then share it through the primary). */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  await new Promise((resolve) => server.close(() => resolve(undefined)));
  if (!address || typeof address === 'string') throw new Error('unexpected address');
  return address.port;
}

if (cluster.isPrimary) {
  /** @type {import('@unisocket/server').ClusterPrimary | null} */
  let primary = null;
  let closing = false;
  let nextId = 1;
  /**
   * @param {import('node:cluster').Worker} worker
   * @returns {Promise<{ heapUsed: number, rss: number, external: number }>}
   */
  const askMem = (worker) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error('a W3b worker did not answer mem within 30 s')), 30_000);
      /** @param {any} msg */
      const onMessage = (msg) => {
        if (msg?.bench !== 'mem' || msg.id !== id) return;
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve(msg.result);
      };
      worker.on('message', onMessage);
      worker.send({ bench: 'mem', id });
    });
  serveRequests({
    async start(
      /** @type {{ peer: string, workers: number, broker?: import('./peers/types.mjs').BenchBroker }} */ msg,
    ) {
      if (primary) throw new Error('already started');
      const peer = await loadPeer(msg.peer);
      if (!peer.cluster) throw new TypeError(`peer '${msg.peer}' does not run over node:cluster workers (W3b)`);
      if (peer.protocol === 'socketio') (await import('@socket.io/cluster-adapter')).setupPrimary();
      const port = await freePort();
      process.env[ENV] = JSON.stringify({ peer: msg.peer, port, broker: msg.broker ?? null });
      let ready = 0;
      /** @type {(v?: unknown) => void} */
      let allReady = () => {};
      const readyPromise = new Promise((resolve) => (allReady = resolve));
      primary = /** @type {import('@unisocket/server').ClusterPrimary} */ (
        await runCluster({
          workers: msg.workers,
          shutdownTimeoutMs: 10_000,
          onEvent: (event) => {
            if (event.type === 'ready' && ++ready === msg.workers) allReady();
            // a worker that dies during the run is restarted with an empty heap: say so (its numbers mean little)
            if (event.type === 'exit' && !closing)
              console.error(`W3b: worker ${event.index} exited (code ${event.code}, signal ${event.signal})`);
          },
          setup: () => {
            throw new Error('unreachable: setup runs in the workers');
          },
        })
      );
      const timeout = setTimeout(() => allReady(new Error('timeout')), 60_000);
      const r = await readyPromise;
      clearTimeout(timeout);
      if (r instanceof Error) throw new Error(`W3b: only ${ready} of ${msg.workers} workers were ready within 60 s`);
      return { port, path: peer.protocol === 'ws' ? '/ws' : null, pid: process.pid };
    },
    async mem() {
      if (!primary) throw new Error('not started');
      const workers = [...primary.workers().values()];
      const each = await Promise.all(workers.map(askMem));
      const sum = (/** @type {'heapUsed' | 'rss' | 'external'} */ k) => each.reduce((s, m) => s + m[k], 0);
      return {
        heapUsed: sum('heapUsed'),
        rss: sum('rss'),
        external: sum('external'),
        workers: each,
        primaryRss: process.memoryUsage.rss(),
      };
    },
    async close() {
      closing = true;
      await primary?.shutdown();
      primary = null;
      return true;
    },
  });
} else {
  const config = JSON.parse(process.env[ENV] ?? 'null');
  if (!config) throw new Error(`a W3b worker needs ${ENV} from its primary`);
  // the worker goes when its primary goes (a SIGKILLed harness leaves nothing behind)
  process.on('disconnect', () => process.exit(0));
  await runCluster({
    async setup() {
      const peer = await loadPeer(config.peer);
      const server = await peer.start({
        host: '127.0.0.1',
        port: config.port,
        clusterWorker: true,
        ...(config.broker ? { broker: config.broker } : {}),
      });
      process.on('message', async (/** @type {any} */ msg) => {
        if (msg?.bench !== 'mem') return;
        process.send?.({ bench: 'mem', id: msg.id, result: await measureMemory() });
      });
      return { shutdown: () => server.close() };
    },
  });
}
