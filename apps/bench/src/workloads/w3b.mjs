/**
 * W3b idle memory across workers: W3's idle connections, served by `node:cluster` workers sharing one port
 * (src/cluster-main.mjs: unisocket with `runCluster` on Redis, the way `WORKERS=2` runs; Socket.IO with
 * `@socket.io/cluster-adapter`). Heap and RSS are summed over the workers after gc(), before any client connects and
 * once every connection is open and subscribed; per-connection cost = delta ÷ connections. Also: the time from the
 * first connection attempt until every socket is subscribed.
 */
import { fileURLToPath } from 'node:url';
import { System } from '../system.mjs';
import { MAX_SOCKETS_PER_CLIENT_PROCESS } from '../config.mjs';
import { loadPeer } from '../peers/index.mjs';
import { channelNames } from '../payload.mjs';
import { sleep } from '../clock.mjs';
import { assessRun } from '../validity.mjs';
import { nodesFor, removeRunData } from './w4.mjs';

const CLUSTER_MAIN = fileURLToPath(new URL('../cluster-main.mjs', import.meta.url));

/**
 * @param {import('./context.mjs').RunContext} ctx
 * @param {string} peerKey
 * @param {import('../config.mjs').ClusterMemoryParams} p
 */
export async function runClusterMemory(ctx, peerKey, p) {
  const peer = await loadPeer(peerKey);
  if (!peer.cluster) throw new TypeError(`peer '${peerKey}' does not run over node:cluster workers (W3b)`);
  const channels = channelNames(p.channels);
  const processes = Math.max(p.clientProcesses, Math.ceil(p.connections / MAX_SOCKETS_PER_CLIENT_PROCESS));
  const all = Array.from({ length: p.connections }, (_, i) => /** @type {string} */ (channels[i % channels.length]));
  const perProcess = Array.from({ length: processes }, (_, k) => all.filter((_, i) => i % processes === k));
  // unisocket's workers share a Redis (what WORKERS=2 needs); Socket.IO's cluster adapter needs none
  const nodes = peer.protocol === 'socketio' ? [{}] : [nodesFor('redis')[0] ?? {}];
  const system = await System.start({
    peer: peerKey,
    protocol: peer.protocol,
    layout: ctx.layout,
    sourceAddresses: ctx.sourceAddresses(processes),
    exposeGc: true,
    nodes,
    serverScript: CLUSTER_MAIN,
    startArgs: { workers: p.workers },
  });
  try {
    const before = await system.server.request('mem');
    const connect = await system.connect(perProcess, { timeoutMs: 300_000 });
    await sleep(p.settleMs);
    const after = await system.server.request('mem');
    const stats = await Promise.all(system.clients.map((c) => c.request('stats')));
    const closedUnexpectedly = stats.reduce((s, r) => s + r.closedUnexpectedly, 0);
    const n = connect.connected - closedUnexpectedly;
    const verdict = assessRun({
      clientCpuPct: [],
      layout: ctx.layout,
      connectFailed: connect.failed,
      closedUnexpectedly,
    });
    return {
      heapBytesPerConn: n > 0 ? Math.round((after.heapUsed - before.heapUsed) / n) : NaN,
      rssBytesPerConn: n > 0 ? Math.round((after.rss - before.rss) / n) : NaN,
      acceptMs: Math.round(connect.ms),
      /** heap per connection ÷ this peer's W3 figure in the same run (set by the suite; NaN without W3) */
      heapVsW3: NaN,
      ...verdict,
      details: {
        connections: n,
        workers: p.workers,
        clientProcesses: perProcess.length,
        perWorkerAfter: after.workers,
        perWorkerBefore: before.workers,
        primaryRss: after.primaryRss,
        externalBytesPerConn: n > 0 ? Math.round((after.external - before.external) / n) : NaN,
      },
    };
  } finally {
    await system.stop();
    await removeRunData(nodes[0]?.broker).catch(() => {});
  }
}
