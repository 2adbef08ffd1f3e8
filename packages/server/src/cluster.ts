import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { type MaybePromise, randomNodeId } from '@unisocket/core';

/** What a worker's `setup` learns about itself. */
export interface ClusterWorkerContext {
  /** The worker's slot, 1…workers (a restarted worker keeps its slot). */
  index: number;
  /** A node id for this worker, `<cluster node id>-<index>`: pass it to `createUnifiedWebSocketService`. */
  nodeId: string;
  /** How many times this slot was restarted before. */
  restarts: number;
}

/** What a worker's `setup` returns: the service (or anything that drains it) to shut down on SIGTERM. */
export interface ClusterWorkerHandle {
  /** Drains the worker: the service closes its connections with 1001 (clients reconnect to another worker). */
  shutdown(): Promise<void>;
  /** The HTTP server to close after the drain (a service exposes the one it is attached to). */
  server?: { close(callback?: (error?: Error) => void): unknown } | undefined;
}

/** Something that happened in the cluster (for logs). */
export type ClusterEvent =
  | { type: 'fork'; index: number; pid: number }
  | { type: 'ready'; index: number; pid: number }
  | { type: 'exit'; index: number; pid: number; code: number | null; signal: string | null }
  | { type: 'restart'; index: number; delayMs: number; restarts: number }
  | { type: 'shutdown' }
  | { type: 'stopped' };

/** Options of {@link runCluster}. */
export interface ClusterOptions {
  /**
   * How many worker processes to run. They share the listening port (`node:cluster`).
   * @default os.availableParallelism()
   */
  workers?: number;
  /**
   * Runs in every worker: create the HTTP server and the service, listen on the shared port, and return the
   * service (or a handle with `shutdown()`). Give each worker `context.nodeId` and a shared broker (Redis), so a
   * message published on any worker reaches every subscriber.
   */
  setup: (context: ClusterWorkerContext) => MaybePromise<ClusterWorkerHandle>;
  /**
   * The cluster's node id; workers get `<nodeId>-<index>`.
   * @default process.env.NODE_ID, or a random id
   */
  nodeId?: string;
  /**
   * The first pause before a crashed worker is restarted, in ms; it doubles for every crash in a row of a worker
   * that did not stay up `stableAfterMs`, so a crash loop does not spin.
   * @default 100
   */
  restartDelayMs?: number;
  /**
   * The longest pause before a restart, in ms.
   * @default 10_000
   */
  maxRestartDelayMs?: number;
  /**
   * A worker that ran this long before it crashed is restarted after `restartDelayMs` again.
   * @default 10_000
   */
  stableAfterMs?: number;
  /**
   * On SIGTERM/SIGINT, how long the workers may take to drain before they are killed, in ms.
   * @default 10_000
   */
  shutdownTimeoutMs?: number;
  /** Called in the primary for every cluster event (fork, ready, exit, restart, shutdown, stopped). */
  onEvent?: (event: ClusterEvent) => void;
}

/** What {@link runCluster} returns in the primary process. */
export interface ClusterPrimary {
  readonly role: 'primary';
  /** The live worker processes by slot. */
  workers(): Map<number, Worker>;
  /** Drains every worker (SIGTERM → `shutdown()`), kills those still running after the timeout, resolves when all exited. */
  shutdown(): Promise<void>;
}

/** What {@link runCluster} returns in a worker. */
export interface ClusterWorker {
  readonly role: 'worker';
  readonly context: ClusterWorkerContext;
  readonly handle: ClusterWorkerHandle;
}

const ENV_INDEX = 'UNISOCKET_CLUSTER_INDEX';
const ENV_NODE = 'UNISOCKET_CLUSTER_NODE_ID';
const ENV_RESTARTS = 'UNISOCKET_CLUSTER_RESTARTS';

/**
 * Runs the service on every core of one machine: the primary forks `workers` processes that share the port, each
 * running `setup` (a Hub on the shared broker), restarts a worker that crashes (with backoff), and on SIGTERM or
 * SIGINT drains them all (each closes its connections with 1001) before it exits.
 *
 * Call it from your entry script; the same script runs in the primary and in the workers.
 *
 * @example
 * ```ts
 * await runCluster({
 *   workers: Number(process.env.WORKERS ?? 2),
 *   async setup({ nodeId }) {
 *     const service = createUnifiedWebSocketService({ nodeId, broker: { type: 'redis', url: process.env.REDIS_URL } });
 *     const server = http.createServer(service.httpHandler);
 *     await service.initialize(server);
 *     server.listen(3000);
 *     return service;
 *   },
 * });
 * ```
 */
export async function runCluster(options: ClusterOptions): Promise<ClusterPrimary | ClusterWorker> {
  const o = resolveClusterOptions(options);
  if (cluster.isPrimary) return runPrimary(o);
  return runWorker(o);
}

type ResolvedClusterOptions = Required<Omit<ClusterOptions, 'onEvent'>> & {
  onEvent: ClusterOptions['onEvent'] | undefined;
};

function resolveClusterOptions(options: ClusterOptions): ResolvedClusterOptions {
  if (typeof options !== 'object' || options === null || typeof options.setup !== 'function') {
    throw new TypeError(
      'runCluster({ setup(context) { … } }) needs a setup function that starts the service in a worker',
    );
  }
  const int = (name: string, value: number | undefined, fallback: number, min: number): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < min)
      throw new TypeError(`${name} must be an integer >= ${min}, got ${String(value)}`);
    return v;
  };
  return {
    setup: options.setup,
    workers: int('workers', options.workers, availableParallelism(), 1),
    nodeId: options.nodeId ?? process.env[ENV_NODE] ?? process.env.NODE_ID ?? randomNodeId(),
    restartDelayMs: int('restartDelayMs', options.restartDelayMs, 100, 0),
    maxRestartDelayMs: int('maxRestartDelayMs', options.maxRestartDelayMs, 10_000, 0),
    stableAfterMs: int('stableAfterMs', options.stableAfterMs, 10_000, 0),
    shutdownTimeoutMs: int('shutdownTimeoutMs', options.shutdownTimeoutMs, 10_000, 0),
    onEvent: options.onEvent,
  };
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  startedAt: number;
  restarts: number;
  crashesInARow: number;
  timer: NodeJS.Timeout | undefined;
}

function runPrimary(o: ResolvedClusterOptions): ClusterPrimary {
  const emit = (event: ClusterEvent): void => {
    try {
      o.onEvent?.(event);
    } catch {
      // a logging callback must not take the cluster down
    }
  };
  const slots = new Map<number, Slot>();
  let stopping: Promise<void> | undefined;

  const fork = (slot: Slot): void => {
    slot.timer = undefined;
    slot.startedAt = Date.now();
    const worker = cluster.fork({
      [ENV_INDEX]: String(slot.index),
      [ENV_NODE]: o.nodeId,
      [ENV_RESTARTS]: String(slot.restarts),
    });
    slot.worker = worker;
    const pid = worker.process.pid ?? -1;
    emit({ type: 'fork', index: slot.index, pid });
    worker.on('message', (message: unknown) => {
      if ((message as { unisocket?: unknown } | null)?.unisocket === 'ready')
        emit({ type: 'ready', index: slot.index, pid });
    });
    worker.on('exit', (code, signal) => {
      if (slot.worker === worker) slot.worker = undefined;
      emit({ type: 'exit', index: slot.index, pid, code, signal });
      if (stopping !== undefined) return;
      // crashed (or exited on its own): restart, backing off while it keeps crashing fast
      slot.crashesInARow = Date.now() - slot.startedAt >= o.stableAfterMs ? 1 : slot.crashesInARow + 1;
      const delayMs = Math.min(o.maxRestartDelayMs, o.restartDelayMs * 2 ** Math.min(slot.crashesInARow - 1, 20));
      slot.restarts++;
      emit({ type: 'restart', index: slot.index, delayMs, restarts: slot.restarts });
      slot.timer = setTimeout(() => fork(slot), delayMs);
    });
  };

  for (let index = 1; index <= o.workers; index++) {
    const slot: Slot = { index, worker: undefined, startedAt: 0, restarts: 0, crashesInARow: 0, timer: undefined };
    slots.set(index, slot);
    fork(slot);
  }

  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      emit({ type: 'shutdown' });
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      const exits: Promise<unknown>[] = [];
      for (const slot of slots.values()) {
        if (slot.timer !== undefined) clearTimeout(slot.timer);
        const worker = slot.worker;
        if (worker === undefined || worker.isDead()) continue;
        exits.push(new Promise((resolve) => worker.once('exit', resolve)));
        worker.process.kill('SIGTERM');
      }
      const kill = setTimeout(() => {
        for (const slot of slots.values())
          if (slot.worker !== undefined && !slot.worker.isDead()) slot.worker.process.kill('SIGKILL');
      }, o.shutdownTimeoutMs);
      await Promise.all(exits);
      clearTimeout(kill);
      emit({ type: 'stopped' });
    })();
    return stopping;
  };
  const onSignal = (): void => void shutdown();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  return {
    role: 'primary',
    workers: () => {
      const live = new Map<number, Worker>();
      for (const slot of slots.values()) if (slot.worker !== undefined) live.set(slot.index, slot.worker);
      return live;
    },
    shutdown,
  };
}

async function runWorker(o: ResolvedClusterOptions): Promise<ClusterWorker> {
  const index = Number(process.env[ENV_INDEX] ?? 1);
  const context: ClusterWorkerContext = {
    index,
    nodeId: `${o.nodeId}-${index}`,
    restarts: Number(process.env[ENV_RESTARTS] ?? 0),
  };
  let draining = false;
  let handle: ClusterWorkerHandle | undefined;
  const drain = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    try {
      await handle?.shutdown();
      await new Promise<void>((resolve) => {
        const server = handle?.server;
        if (server === undefined) resolve();
        else server.close(() => resolve());
        // idle keep-alive sockets must not hold the exit
        setTimeout(resolve, 1000).unref();
      });
    } finally {
      process.exit(0);
    }
  };
  // SIGINT reaches every process of the terminal's group: the primary decides, the worker waits for its SIGTERM
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void drain());
  handle = await o.setup(context);
  if (typeof handle?.shutdown !== 'function') {
    throw new TypeError('runCluster: setup() must return the service (or an object with shutdown())');
  }
  process.send?.({ unisocket: 'ready' });
  return { role: 'worker', context, handle };
}
