/**
 * W1 fan-out throughput: the server publishes as fast as it can (bounded bursts per event-loop turn) for a
 * fixed window; clients count deliveries. Rate = deliveries ÷ (last delivery − window start), so a system
 * that queues instead of delivering does not gain; server CPU is measured from window start to the end of
 * the drain and divided by the deliveries.
 */
import { System, assignSubscriptions } from '../system.mjs';
import { loadPeer } from '../peers/index.mjs';
import { channelNames } from '../payload.mjs';
import { wallNowMs } from '../clock.mjs';
import { assessRun } from '../validity.mjs';

/**
 * @param {import('./context.mjs').RunContext} ctx
 * @param {string} peerKey
 * @param {import('../config.mjs').ThroughputParams} p
 */
export async function runThroughput(ctx, peerKey, p) {
  const peer = await loadPeer(peerKey);
  const channels = channelNames(p.channels);
  const perProcess = assignSubscriptions(channels, p.perChannel, p.clientProcesses);
  const publishesPerTurn = Math.max(1, p.burstPerChannel * channels.length);
  const system = await System.start({
    peer: peerKey,
    protocol: peer.protocol,
    layout: ctx.layout,
    sourceAddresses: ctx.sourceAddresses(p.clientProcesses),
  });
  try {
    const connect = await system.connect(perProcess);
    if (connect.connected === 0) throw new Error(`no client connected: ${connect.errors.join('; ')}`);
    // Only sockets that did subscribe count towards the expected deliveries.
    const subsPerChannel = connect.perChannel;
    const expectedFor = (/** @type {number[]} */ perChannel) =>
      perChannel.reduce((s, n, i) => s + n * (subsPerChannel.get(/** @type {string} */ (channels[i])) ?? 0), 0);

    if (p.warmupMs > 0) {
      const from = wallNowMs() + 300;
      await system.measure('count', from, from + p.warmupMs);
      const warm = await system.server.request(
        'w1',
        { channels, startAt: from, durationMs: p.warmupMs, publishesPerTurn },
        p.warmupMs + 30_000,
      );
      await system.drain(expectedFor(warm.perChannel), { timeoutMs: 30_000 });
      await system.reports();
    }

    const from = wallNowMs() + 300;
    const until = from + p.durationMs;
    await system.measure('count', from, until);
    const window = system.sampleWindow(from, until);
    const pub = await system.server.request(
      'w1',
      { channels, startAt: from, durationMs: p.durationMs, publishesPerTurn },
      p.durationMs + 60_000,
    );
    const expected = expectedFor(pub.perChannel);
    const drain = await system.drain(expected, { timeoutMs: 60_000 });
    const serverCpu = await system.server.request('cpu');
    const reports = await system.reports();

    const delivered = reports.reduce((s, r) => s + r.received, 0);
    const lastRecv = Math.max(...reports.map((r) => r.lastRecv));
    // From the moment the server's loop actually started (it may start a little after `from` on a busy machine).
    const elapsedMs = delivered > 0 ? lastRecv - pub.startWall : p.durationMs;
    const deliveriesPerSec = delivered > 0 ? delivered / (elapsedMs / 1000) : 0;
    const cpuSecPerMillion = delivered > 0 ? serverCpu.cpuSec / (delivered / 1e6) : NaN;
    const clientCpuPct = reports.map((r) => r.cpuPct);
    const closedUnexpectedly = reports.reduce((s, r) => s + r.closedUnexpectedly, 0);
    const drops = Math.max(0, expected - delivered);
    const machineLoad = (await window).foreign(pub.userSec + reports.reduce((s, r) => s + r.cpuUserSec, 0));
    const verdict = assessRun({
      clientCpuPct,
      layout: ctx.layout,
      connectFailed: connect.failed,
      closedUnexpectedly,
      drops,
      drainTimedOut: drain.timedOut,
      machineLoad,
      deliveryLagMs: delivered > 0 ? lastRecv - pub.endWall : 0,
      windowMs: p.durationMs,
    });
    if (pub.cpuPct < 80)
      verdict.warnings.push(`server used only ${pub.cpuPct.toFixed(0)}% of its core while publishing`);
    return {
      deliveriesPerSec: Math.round(deliveriesPerSec),
      cpuSecPerMillion: round3(cpuSecPerMillion),
      ...verdict,
      details: {
        subscribers: connect.connected,
        channels: channels.length,
        publishesPerTurn,
        published: pub.published,
        expected,
        delivered,
        drops,
        windowMs: p.durationMs,
        elapsedToLastDeliveryMs: Math.round(elapsedMs),
        lastDeliveryAfterWindowMs: delivered > 0 ? Math.round(lastRecv - pub.endWall) : null,
        drainWaitMs: Math.round(drain.waitedMs),
        serverCpuPctWhilePublishing: Math.round(pub.cpuPct),
        serverCpuSecInclDrain: round3(serverCpu.cpuSec),
        clientCpuPct: clientCpuPct.map((x) => Math.round(x)),
        clientCpuSysPct: reports.map((r) => Math.round(r.cpuSysPct)),
        clientProcesses: reports.length,
        connectMs: Math.round(connect.ms),
        closedUnexpectedly,
        machineLoad,
      },
    };
  } finally {
    await system.stop();
  }
}

/** @param {number} x */
export const round3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);
