export interface StartRedisClusterOptions {
  /**
   * Number of masters (the 16 384 slots are split between them).
   * @default 3
   */
  masters?: number;
  /**
   * Replicas per master (each may be promoted when its master dies).
   * @default 1
   */
  replicas?: number;
  /**
   * `cluster-node-timeout` in ms: how long a master may be unreachable before its replica is promoted.
   * @default 1_500
   */
  nodeTimeoutMs?: number;
  /**
   * How long to wait for `redis-cli --cluster create` and for `cluster_state:ok` everywhere before rejecting.
   * @default 60_000
   */
  startTimeoutMs?: number;
  /**
   * Where progress lines go.
   * @default writes `[unisocket services] …` lines to stderr
   */
  log?: (line: string) => void;
}

/** A node of a {@link RedisCluster}. */
export interface RedisClusterNode {
  host: string;
  port: number;
}

/** A node of a {@link RedisCluster} that was a master, with its process id and cluster node id. */
export interface RedisClusterMaster extends RedisClusterNode {
  pid: number | undefined;
  /** The node's cluster id (40 hex characters). */
  id: string;
}

/** A private Redis Cluster owned by the calling process (nothing persisted; killed when the process exits). */
export interface RedisCluster {
  /** Every node it started (masters and replicas), e.g. the startup nodes of `new Cluster(nodes)`. */
  readonly nodes: readonly RedisClusterNode[];
  /** The `cluster-node-timeout` the nodes run with, in ms. */
  readonly nodeTimeoutMs: number;
  /** The temp dir holding the nodes' working dirs (removed by {@link RedisCluster.stop}). */
  readonly dir: string;
  /** The nodes still running. */
  liveNodes(): RedisClusterNode[];
  /** The hash slot of a key (`CLUSTER KEYSLOT`, hash tags honoured), or the slot itself when given a number. */
  slotOf(slotOrKey: number | string): Promise<number>;
  /** The live master serving a slot (or a key's slot). */
  masterOf(slotOrKey: number | string): Promise<RedisClusterMaster>;
  /**
   * Kills the master serving a slot (or a key's slot) — SIGKILL unless told otherwise, like a crash — and resolves
   * with the killed node once its process is gone. Its replica is promoted after about `nodeTimeoutMs`; follow with
   * {@link RedisCluster.waitUntilHealthy} to wait for that.
   */
  killMaster(
    slotOrKey: number | string,
    options?: { signal?: NodeJS.Signals },
  ): Promise<RedisClusterMaster & { slot: number }>;
  /**
   * Resolves once every live node reports `cluster_state:ok` with all slots served, and no slot is still assigned to a
   * node that is down (after a kill: once the replica was promoted). Rejects after `timeoutMs` saying what is missing.
   */
  waitUntilHealthy(options?: { timeoutMs?: number; replicasLinked?: boolean }): Promise<void>;
  /** Kills every node it started and deletes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a real Redis Cluster on this machine: `masters` masters with `replicas` replica(s) each, every one a
 * `redis-server --cluster-enabled yes` on a free port of 127.0.0.1 that keeps nothing on disk, joined with
 * `redis-cli --cluster create`. Resolves once every node reports `cluster_state:ok` with all slots served and every
 * replica is linked to its master. Rejects with what is missing (redis-server or redis-cli not installed, a node that
 * exited, a state that did not become ok in time), leaving nothing running.
 */
export function startRedisCluster(options?: StartRedisClusterOptions): Promise<RedisCluster>;

/**
 * For a suite that runs on a private Redis Cluster: starts one ({@link startRedisCluster}, quiet), or when it may not
 * (`UNISOCKET_SERVICES=off`) or cannot, follows the rule of a missing service: with `CI=true` rejects, otherwise one
 * `[unisocket] SKIPPED: Redis Cluster tests — …` line on stderr and `undefined`.
 *
 * @example
 * const cluster = await redisClusterForTests();
 * afterAll(() => cluster?.stop());
 * describe.skipIf(!cluster)('on a Redis Cluster', () => { … });
 */
export function redisClusterForTests(options?: StartRedisClusterOptions): Promise<RedisCluster | undefined>;
