import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOST, defaultLog, formatMs, msSince, servicesOff } from './config.mjs';
import { freePort, waitFor } from './net.mjs';
import { run } from './proc.mjs';

/** Slots of a Redis Cluster. */
const SLOTS = 16_384;

const DEFAULTS = { masters: 3, replicas: 1, nodeTimeoutMs: 1_500, startTimeoutMs: 60_000 };

// Clusters die with the test process: on normal exit, and on the signals that would otherwise orphan them.
const liveClusters = new Set();
let exitHooksInstalled = false;
function installExitHooks() {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const cluster of liveClusters) cluster.cleanup();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    if (process.listenerCount(signal) > 0) continue; // someone else handles it: do not cancel the default exit
    process.once(signal, () => {
      for (const cluster of liveClusters) cluster.cleanup();
      process.kill(process.pid, signal);
    });
  }
}

async function ensureBinaries() {
  for (const binary of ['redis-server', 'redis-cli']) {
    try {
      await run(binary, ['--version'], { timeoutMs: 10_000 });
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
      throw new Error(
        `${binary} is not installed, and a Redis Cluster needs both redis-server and redis-cli (Redis 7). Install ` +
          'redis-server (Debian/Ubuntu: "sudo apt-get install -y redis-server", which ships redis-cli too; macOS: ' +
          '"brew install redis"), then retry.',
      );
    }
  }
}

function integer(name, value, min, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`startRedisCluster: ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** One cluster-enabled redis-server child process. */
function spawnNode(port, dir, nodeTimeoutMs) {
  fs.mkdirSync(dir, { recursive: true });
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      path.join(dir, 'nodes.conf'),
      '--cluster-node-timeout',
      String(nodeTimeoutMs),
      '--save',
      '',
      '--appendonly',
      'no',
      // a replica's first sync starts at once (Redis waits 5 s by default for more replicas to share a diskless sync)
      '--repl-diskless-sync-delay',
      '0',
      '--dir',
      dir,
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const node = { host: HOST, port, child, pid: child.pid, output: '', ready: false, exit: undefined };
  const collect = (chunk) => {
    node.output += chunk.toString();
    // our own child's log line (not just any PONG) proves the port is ours
    if (!node.ready && node.output.includes('Ready to accept connections')) node.ready = true;
    node.output = node.output.slice(-8_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  node.exited = new Promise((resolve) => {
    child.once('error', (err) => {
      node.exit = err.message;
      resolve();
    });
    child.once('exit', (code, signal) => {
      node.exit = signal ? `killed by ${signal}` : `exit code ${code}`;
      resolve();
    });
  });
  // never keeps the test process alive; the exit hook and stop() kill it
  child.unref();
  child.stdout.unref?.();
  child.stderr.unref?.();
  return node;
}

/** Runs one redis-cli command against `port` and returns its raw output (`--no-raw` off: plain text). */
async function cli(port, args, timeoutMs = 5_000) {
  const { stdout } = await run('redis-cli', ['-h', HOST, '-p', String(port), ...args], { timeoutMs });
  return stdout;
}

/** `CLUSTER INFO` as a map, or undefined when the node does not answer. */
async function clusterInfo(port) {
  try {
    const text = await cli(port, ['CLUSTER', 'INFO'], 2_000);
    return Object.fromEntries(
      text
        .split(/\r?\n/)
        .filter((line) => line.includes(':'))
        .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
    );
  } catch {
    return undefined;
  }
}

/** The parsed `CLUSTER NODES` of one node: id, port, flags, master id, slot ranges. */
async function clusterNodes(port) {
  const text = await cli(port, ['CLUSTER', 'NODES'], 2_000);
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.trim().split(' ');
      const hostPort = address.slice(0, address.indexOf('@'));
      const ranges = slots
        .filter((s) => !s.startsWith('['))
        .map((s) => {
          const [from, to] = s.split('-').map(Number);
          return [from, to ?? from];
        });
      return {
        id,
        port: Number(hostPort.slice(hostPort.lastIndexOf(':') + 1)),
        flags: flags.split(','),
        master,
        ranges,
      };
    });
}

/**
 * Starts a real Redis Cluster on this machine: `masters` masters with `replicas` replica(s) each, every one a
 * cluster-enabled redis-server on a free port of 127.0.0.1 that keeps nothing on disk, joined with
 * `redis-cli --cluster create`. Resolves once every node reports `cluster_state:ok` with all slots served and every
 * replica's link to its master is up (so a failover can happen at once).
 */
export async function startRedisCluster(options = {}) {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('startRedisCluster: options must be an object');
  const masters = integer('masters', options.masters ?? DEFAULTS.masters, 3, 16);
  const replicas = integer('replicas', options.replicas ?? DEFAULTS.replicas, 0, 4);
  const nodeTimeoutMs = integer('nodeTimeoutMs', options.nodeTimeoutMs ?? DEFAULTS.nodeTimeoutMs, 100, 60_000);
  const startTimeoutMs = integer('startTimeoutMs', options.startTimeoutMs ?? DEFAULTS.startTimeoutMs, 1_000);
  const log = options.log ?? defaultLog;
  const startedAt = performance.now();
  await ensureBinaries();
  installExitHooks();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unisocket-redis-cluster-'));
  const nodes = [];
  const entry = {
    cleanup() {
      for (const node of nodes) if (!node.exit) node.child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  liveClusters.add(entry);
  const explainNode = (node) => `node ${HOST}:${node.port} (${node.exit ?? 'running'}):\n${node.output.trim()}`;

  try {
    // the nodes, each on a free port (retried when another process takes the port first)
    const taken = new Set();
    await Promise.all(
      Array.from({ length: masters * (replicas + 1) }, async () => {
        for (let attempt = 1; ; attempt++) {
          let port = await freePort();
          while (taken.has(port)) port = await freePort();
          taken.add(port);
          const node = spawnNode(port, path.join(dir, String(port)), nodeTimeoutMs);
          try {
            await waitFor(() => node.ready, {
              timeoutMs: 15_000,
              intervalMs: 20,
              abort: () => node.exit && `redis-server exited (${node.exit})`,
              explain: (why) => `Redis Cluster: ${why}; ${explainNode(node)}`,
            });
            nodes.push(node);
            return;
          } catch (err) {
            if (!node.exit) node.child.kill('SIGKILL');
            await node.exited;
            if (!/already in use/i.test(node.output) || attempt >= 3) throw err;
          }
        }
      }),
    );

    const addresses = nodes.map((n) => `${HOST}:${n.port}`);
    try {
      await run(
        'redis-cli',
        ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'],
        { timeoutMs: Math.min(startTimeoutMs, 60_000) },
      );
    } catch (err) {
      throw new Error(`Redis Cluster: redis-cli --cluster create failed.\n${err.message}`);
    }

    log(`Redis Cluster: created in ${formatMs(msSince(startedAt))}; waiting for cluster_state:ok`);
    const cluster = makeCluster({ nodes, dir, entry, nodeTimeoutMs, replicas });
    await cluster.waitUntilHealthy({ timeoutMs: startTimeoutMs, replicasLinked: replicas > 0 });
    log(
      `Redis Cluster of ${masters} masters × ${replicas + 1} started on ports ${nodes.map((n) => n.port).join(', ')} ` +
        `in ${formatMs(msSince(startedAt))}`,
    );
    return cluster;
  } catch (err) {
    for (const node of nodes) node.child.ref();
    entry.cleanup();
    liveClusters.delete(entry);
    await Promise.all(nodes.map((n) => n.exited));
    throw err;
  }
}

function makeCluster({ nodes, dir, entry, nodeTimeoutMs, replicas }) {
  const live = () => nodes.filter((n) => !n.exit);
  const anyLive = () => {
    const node = live()[0];
    if (node === undefined) throw new Error('Redis Cluster: every node is down');
    return node;
  };

  async function slotOf(slotOrKey) {
    if (typeof slotOrKey === 'number') return integer('slot', slotOrKey, 0, SLOTS - 1);
    if (typeof slotOrKey !== 'string' || slotOrKey === '') {
      throw new TypeError(`expected a slot (0–${SLOTS - 1}) or a key, got ${JSON.stringify(slotOrKey)}`);
    }
    return Number((await cli(anyLive().port, ['CLUSTER', 'KEYSLOT', slotOrKey])).trim());
  }

  /** The master serving `slot`, as seen by the live nodes (the first view that has one that is not failed). */
  async function masterNode(slot) {
    for (const asked of live()) {
      let view;
      try {
        view = await clusterNodes(asked.port);
      } catch {
        continue;
      }
      const master = view.find(
        (n) =>
          n.flags.includes('master') &&
          !n.flags.includes('fail') &&
          !n.flags.includes('fail?') &&
          n.ranges.some(([from, to]) => slot >= from && slot <= to),
      );
      if (master === undefined) continue;
      const node = nodes.find((n) => n.port === master.port);
      if (node !== undefined && !node.exit) return { node, id: master.id };
    }
    throw new Error(`Redis Cluster: no live master serves slot ${slot}`);
  }

  const describe = (node) => ({ host: node.host, port: node.port, pid: node.pid });

  let stopped;
  return {
    nodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    nodeTimeoutMs,
    dir,
    liveNodes: () => live().map((n) => ({ host: n.host, port: n.port })),
    slotOf,
    async masterOf(slotOrKey) {
      const { node, id } = await masterNode(await slotOf(slotOrKey));
      return { ...describe(node), id };
    },
    async killMaster(slotOrKey, { signal = 'SIGKILL' } = {}) {
      const slot = await slotOf(slotOrKey);
      const { node, id } = await masterNode(slot);
      node.child.ref(); // keeps the process alive until the exit is seen
      node.child.kill(signal);
      await node.exited;
      return { ...describe(node), id, slot };
    },
    async waitUntilHealthy({ timeoutMs = 30_000, replicasLinked = false } = {}) {
      let last = '';
      await waitFor(
        async () => {
          for (const node of live()) {
            const info = await clusterInfo(node.port);
            if (info === undefined) return !(last = `${HOST}:${node.port} does not answer CLUSTER INFO`);
            if (info.cluster_state !== 'ok' || Number(info.cluster_slots_ok) !== SLOTS) {
              last = `${HOST}:${node.port} reports cluster_state:${info.cluster_state}, ${info.cluster_slots_ok} of ${SLOTS} slots ok`;
              return false;
            }
            // and no slot is still assigned to a master that is down (the live nodes may not have noticed yet)
            const view = await clusterNodes(node.port).catch(() => undefined);
            const stale = view?.find(
              (n) =>
                n.ranges.length > 0 &&
                (n.flags.some((f) => f.startsWith('fail')) || nodes.find((x) => x.port === n.port)?.exit),
            );
            if (view === undefined || stale !== undefined) {
              last = `${HOST}:${node.port} still assigns slots to ${stale ? `${HOST}:${stale.port}, which is down` : '?'}`;
              return false;
            }
          }
          if (replicasLinked && replicas > 0) {
            for (const node of live()) {
              const text = await cli(node.port, ['INFO', 'replication'], 2_000).catch(() => '');
              if (text.includes('role:slave') && !text.includes('master_link_status:up')) {
                last = `replica ${HOST}:${node.port} has no synced link to its master yet`;
                return false;
              }
            }
          }
          return true;
        },
        {
          timeoutMs,
          intervalMs: 100,
          abort: () => (live().length === 0 ? 'every node is down' : undefined),
          explain: (why) =>
            `Redis Cluster not healthy: ${why}; last: ${last || 'n/a'}.\n${nodes
              .filter((n) => n.exit)
              .map(explainNode)
              .join('\n')}`,
        },
      );
    },
    stop() {
      stopped ??= (async () => {
        for (const node of live()) {
          node.child.ref(); // keeps the process alive until the exit is seen
          node.child.kill('SIGKILL'); // nothing to save: every node persists nothing
        }
        await Promise.all(nodes.map((n) => n.exited));
        fs.rmSync(dir, { recursive: true, force: true });
        liveClusters.delete(entry);
      })();
      return stopped;
    },
  };
}

/**
 * For a suite that runs on a private Redis Cluster: starts one, or, when it may not or cannot, follows the rule of a
 * missing service — with `CI=true` rejects (CI must run every suite), otherwise prints one `[unisocket] SKIPPED: …`
 * line and resolves `undefined`. `UNISOCKET_SERVICES=off` starts nothing.
 */
export async function redisClusterForTests(options = {}) {
  const skip = (message) => {
    if (process.env.CI === 'true') throw new Error(`Redis Cluster is required in CI (CI=true) but ${message}`);
    process.stderr.write(`\n[unisocket] SKIPPED: Redis Cluster tests — ${message}\n\n`);
    return undefined;
  };
  if (servicesOff())
    return skip('UNISOCKET_SERVICES=off, so no private cluster is started; unset it to run these tests');
  try {
    return await startRedisCluster({ log: () => {}, ...options });
  } catch (err) {
    return skip(`it could not be started: ${err.message}`);
  }
}
