/**
 * W3 idle memory: the server (started with --expose-gc) reports heap used and RSS after gc() before any
 * client connects and again once every connection is open and subscribed (one channel each, round-robin
 * over the channels); per-connection cost = delta ÷ connections.
 */
import { System } from '../system.mjs';
import { MAX_SOCKETS_PER_CLIENT_PROCESS } from '../config.mjs';
import { loadPeer } from '../peers/index.mjs';
import { channelNames } from '../payload.mjs';
import { sleep } from '../clock.mjs';
import { assessRun } from '../validity.mjs';

/**
 * @param {import('./context.mjs').RunContext} ctx
 * @param {string} peerKey
 * @param {import('../config.mjs').MemoryParams} p
 */
export async function runIdleMemory(ctx, peerKey, p) {
  const peer = await loadPeer(peerKey);
  const channels = channelNames(p.channels);
  const processes = Math.max(p.clientProcesses, Math.ceil(p.connections / MAX_SOCKETS_PER_CLIENT_PROCESS));
  const all = Array.from({ length: p.connections }, (_, i) => /** @type {string} */ (channels[i % channels.length]));
  const perProcess = Array.from({ length: processes }, (_, k) => all.filter((_, i) => i % processes === k));
  const system = await System.start({
    peer: peerKey,
    protocol: peer.protocol,
    layout: ctx.layout,
    sourceAddresses: ctx.sourceAddresses(processes),
    exposeGc: true,
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
      ...verdict,
      details: {
        connections: n,
        clientProcesses: perProcess.length,
        externalBytesPerConn: n > 0 ? Math.round((after.external - before.external) / n) : NaN,
        before,
        after,
        connectMs: Math.round(connect.ms),
      },
    };
  } finally {
    await system.stop();
  }
}
