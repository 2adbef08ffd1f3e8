/**
 * One system under test for one run: a server process running a peer (or, for W4, several server processes
 * joined by a broker), and several load-generator processes connected to it. Every workload starts a fresh
 * system and stops it afterwards.
 */
import { fileURLToPath } from 'node:url';
import { Child } from './proc.mjs';
import { wallNowMs, sleep } from './clock.mjs';
import { readCpuTicks, foreignLoad, readUserSec } from './load.mjs';

const SERVER_MAIN = fileURLToPath(new URL('./server-main.mjs', import.meta.url));
const CLIENT_MAIN = fileURLToPath(new URL('./client-main.mjs', import.meta.url));

/**
 * @typedef {object} SystemOptions
 * @property {string} peer
 * @property {import('./peers/types.mjs').ClientProtocol} protocol
 * @property {ReturnType<typeof import('./proc.mjs').cpuLayout>} layout
 * @property {string[]} sourceAddresses local addresses to spread client processes over ([] = let the OS pick)
 * @property {boolean} [exposeGc]
 * @property {Array<{ broker?: import('./peers/types.mjs').BenchBroker }>} [nodes] server processes (default: one,
 *   without a broker). The harness's publish loops run on the first (`system.server`); clients connect to the last.
 * @property {boolean} [recovery] W6: start the peers with what they offer for recovery (PeerStartOptions.recovery)
 * @property {string} [serverScript] the server process's entry point (default src/server-main.mjs; W3b:
 *   src/cluster-main.mjs)
 * @property {Record<string, unknown>} [startArgs] more arguments for the server's `start` command (W3b: `workers`)
 */

/**
 * Spread `channels × perChannel` subscriptions over `processes` client processes, round-robin, so every
 * process holds about the same number of sockets and subscribers of every channel.
 * @param {string[]} channels
 * @param {number} perChannel
 * @param {number} processes
 * @returns {string[][]} the channel of each socket, per process
 */
export function assignSubscriptions(channels, perChannel, processes) {
  /** @type {string[][]} */
  const out = Array.from({ length: processes }, () => []);
  let i = 0;
  for (let k = 0; k < perChannel; k++) {
    for (const channel of channels) {
      /** @type {string[]} */ (out[i % processes]).push(channel);
      i++;
    }
  }
  return out;
}

export class System {
  /** @param {SystemOptions} options */
  constructor(options) {
    this.options = options;
    this.nodes = options.nodes ?? [{}];
    /** every server process; all of them share the server cores */
    this.servers = this.nodes.map(
      (_, i) =>
        new Child(
          `server${this.nodes.length > 1 ? `#${i}` : ''}(${options.peer})`,
          options.serverScript ?? SERVER_MAIN,
          {
            // BENCH_SERVER_EXEC_ARGV: extra node flags for the server process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
            execArgv: [
              ...(options.exposeGc ? ['--expose-gc'] : []),
              ...(process.env.BENCH_SERVER_EXEC_ARGV?.split(/\s+/).filter(Boolean) ?? []),
            ],
            cpus: options.layout.serverCpus,
          },
        ),
    );
    /** the server process the publish loops run on */
    this.server = /** @type {Child} */ (this.servers[0]);
    /** @type {Child[]} */
    this.clients = [];
    this.port = 0;
    /** @type {number[]} the port of every server process (W6 sends clients from one node to another) */
    this.ports = [];
    /** @type {string | null} the peer's client path (null: the protocol's default) */
    this.path = null;
  }

  /** @param {SystemOptions} options */
  static async start(options) {
    const system = new System(options);
    try {
      // One after the other: the first node creates what the broker needs (a Kafka topic) before the next joins.
      for (const [i, server] of system.servers.entries()) {
        const broker = system.nodes[i]?.broker;
        const { port, path } = await server.request(
          'start',
          {
            ...options.startArgs,
            peer: options.peer,
            ...(broker ? { broker } : {}),
            ...(options.recovery ? { recovery: true } : {}),
          },
          60_000,
        );
        system.port = port;
        system.ports.push(port);
        system.path = path;
      }
      return system;
    } catch (err) {
      await system.stop();
      throw err;
    }
  }

  /**
   * The URL clients connect to on the server process listening on `port`.
   * @param {number} port
   */
  url(port) {
    return this.options.protocol === 'socketio'
      ? `http://127.0.0.1:${port}`
      : `ws://127.0.0.1:${port}${this.path ?? '/'}`;
  }

  /**
   * Spawn one client process per entry of `perProcess` and connect its sockets.
   * @param {string[][]} perProcess channel of each socket, per process
   * @param {{ timeoutMs?: number, command?: string, extra?: Record<string, unknown> }} [options] `command`: the client
   *   command that connects (default `connect`; W6: `storm-connect`), `extra`: more arguments for it
   */
  async connect(perProcess, { timeoutMs = 120_000, command = 'connect', extra = {} } = {}) {
    const { protocol, layout, sourceAddresses } = this.options;
    const url = this.url(this.port);
    this.clients = perProcess.map(
      (_, i) =>
        new Child(`client#${i}(${this.options.peer})`, CLIENT_MAIN, {
          cpus: layout.clientCpus,
          // BENCH_CLIENT_EXEC_ARGV: extra node flags for the load generators (profiling).
          execArgv: process.env.BENCH_CLIENT_EXEC_ARGV?.split(/\s+/).filter(Boolean) ?? [],
        }),
    );
    const t0 = wallNowMs();
    const results = await Promise.all(
      this.clients.map((client, i) =>
        client.request(
          command,
          {
            ...extra,
            url,
            protocol,
            path: protocol === 'socketio' ? (this.path ?? undefined) : undefined,
            channels: perProcess[i],
            localAddress: sourceAddresses.length ? sourceAddresses[i % sourceAddresses.length] : undefined,
          },
          timeoutMs,
        ),
      ),
    );
    const connected = results.reduce((s, r) => s + r.connected, 0);
    const failed = results.reduce((s, r) => s + r.failed, 0);
    const errors = results.flatMap((r) => r.errors);
    /** @type {Map<string, number>} */
    const perChannel = new Map();
    for (const r of results) {
      for (const [channel, n] of Object.entries(r.perChannel))
        perChannel.set(channel, (perChannel.get(channel) ?? 0) + Number(n));
    }
    return { connected, failed, errors, perChannel, ms: wallNowMs() - t0 };
  }

  /**
   * Put every client in a measuring mode for the window [from, until).
   * @param {'count' | 'latency'} mode
   * @param {number} from
   * @param {number} until
   */
  async measure(mode, from, until) {
    await Promise.all(this.clients.map((c) => c.request('measure', { mode, from, until })));
  }

  /**
   * Wait until the clients have received `expected` messages, or nothing new arrived for `quietMs`,
   * or `timeoutMs` passed.
   * @param {number} expected
   * @param {{ quietMs?: number, timeoutMs?: number }} [options]
   * @returns {Promise<{ received: number, drained: boolean, timedOut: boolean, waitedMs: number }>}
   */
  async drain(expected, { quietMs = 1500, timeoutMs = 60_000 } = {}) {
    const t0 = wallNowMs();
    let last = -1;
    let lastChange = t0;
    for (;;) {
      const stats = await Promise.all(this.clients.map((c) => c.request('stats')));
      const received = stats.reduce((s, r) => s + r.received, 0);
      const now = wallNowMs();
      if (received >= expected) return { received, drained: true, timedOut: false, waitedMs: now - t0 };
      if (received !== last) {
        last = received;
        lastChange = now;
      } else if (now - lastChange >= quietMs) {
        return { received, drained: false, timedOut: false, waitedMs: now - t0 };
      }
      if (now - t0 >= timeoutMs) return { received, drained: false, timedOut: true, waitedMs: now - t0 };
      await sleep(100);
    }
  }

  /**
   * Sample machine-wide CPU counters at `from` and `until` (wall-clock ms), to tell afterwards how much CPU
   * other processes used during the window. Resolves once `until` has passed.
   * @param {number} from
   * @param {number} until
   * @param {number[]} [partOfRun] pids of other processes that belong to the system under test (W4's brokers)
   */
  sampleWindow(from, until, partOfRun = []) {
    /** @param {number} at */
    const sampleAt = (at) =>
      new Promise((resolve) =>
        setTimeout(
          () =>
            resolve({
              ticks: readCpuTicks(),
              harness: process.cpuUsage(),
              brokers: readUserSec(partOfRun),
              wall: wallNowMs(),
            }),
          Math.max(0, at - wallNowMs()),
        ),
      );
    return Promise.all([sampleAt(from), sampleAt(until)]).then(([a, b]) => {
      const x = /** @type {any} */ (a);
      const y = /** @type {any} */ (b);
      return {
        /** @param {number} runUserSec user CPU of the server and clients over the window */
        foreign: (/** @type {number} */ runUserSec) =>
          foreignLoad(
            x.ticks,
            y.ticks,
            runUserSec + (y.harness.user - x.harness.user) / 1e6 + (y.brokers - x.brokers),
            (y.wall - x.wall) / 1000,
          ),
      };
    });
  }

  /** @returns {Promise<any[]>} one report per client process */
  async reports() {
    return Promise.all(this.clients.map((c) => c.request('report')));
  }

  async stop() {
    await Promise.allSettled(this.clients.map((c) => c.request('close', {}, 5000).catch(() => {})));
    // Nodes on a broker leave it cleanly (Kafka consumer groups, Redis connections) before their process exits.
    if (this.nodes.some((n) => n.broker))
      await Promise.allSettled(this.servers.map((s) => s.request('close', {}, 15_000)));
    await Promise.allSettled([...this.clients.map((c) => c.stop()), ...this.servers.map((s) => s.stop())]);
  }
}
