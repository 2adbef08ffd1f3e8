/** Options of {@link startKafkaCluster} and {@link kafkaClusterForTests}. */
export interface KafkaClusterOptions {
  /**
   * Where progress lines go (the jar download on a first run, the ready line of kafkaClusterForTests).
   * @default writes `[unisocket services] …` lines to stderr
   */
  log?: (line: string) => void;
  /**
   * How many nodes (each a broker and a controller, all voters of the KRaft quorum), from 1 to 5.
   * @default 3
   */
  brokers?: number;
  /**
   * The maximum heap of each JVM (`-Xmx`), like `'384M'` or `'1G'`.
   * @default '384M'
   */
  heap?: string;
  /**
   * How long the start may take (storage format, JVMs, every broker registered, a replicated topic in sync), in ms.
   * @default 180_000 (`UNISOCKET_KAFKA_CLUSTER_START_TIMEOUT_MS`)
   */
  timeoutMs?: number;
}

/** One node of a {@link KafkaCluster}. */
export interface KafkaClusterNode {
  /** Its `node.id` (1, 2, 3, …). */
  id: number;
  /** `127.0.0.1:<port>`, its PLAINTEXT listener. */
  address: string;
  controllerPort: number;
  /** The JVM's PID while it runs. */
  pid: number | undefined;
  running: boolean;
  /** Its broker log (in the cluster's temp dir). */
  serverLog: string;
}

/**
 * A private Kafka cluster started by {@link startKafkaCluster}: one JVM per node on free ports, data and logs in a temp
 * dir, `default.replication.factor` = the node count, `min.insync.replicas=2`, internal topics replicated on every
 * node, unclean leader election off; a SIGKILLed broker is fenced after about 4 s.
 */
export interface KafkaCluster {
  /** Every broker's `127.0.0.1:<port>` (the same after a kill and restart), ready for `new Kafka({ brokers })`. */
  readonly brokers: string[];
  /** The node ids, `[1, 2, 3]`. */
  readonly ids: number[];
  /** The Kafka version (3.9.1, or 3.9.0 when that is what could be fetched). */
  readonly version: string;
  /** The temp dir holding each node's config, data and logs; deleted by {@link KafkaCluster.stop}. */
  readonly dir: string;
  /** How long the start took, in ms: storage format (the nodes in parallel), then the JVMs until ready. */
  readonly timings: { formatMs?: number; startMs?: number };
  /** The nodes as they are now. */
  nodes(): KafkaClusterNode[];
  /** The resident memory of each running JVM in bytes, by node id (empty where `/proc` is missing). */
  memory(): Record<number, number>;
  /** SIGKILLs the node's JVM (a crash: no controlled shutdown) and resolves once it is gone. RangeError for an unknown id. */
  killBroker(id: number): Promise<void>;
  /**
   * Starts a stopped node again on its ports and data; resolves once it is registered with the controller (not yet
   * in sync: see {@link KafkaCluster.waitInSync}). Does nothing for a node that runs.
   */
  startBroker(id: number, options?: { timeoutMs?: number }): Promise<void>;
  /** The node id of the partition's leader as the running brokers' metadata says (`-1` while it has none). */
  leaderOf(topic: string, partition: number): Promise<number>;
  /**
   * Resolves once every partition of `topics` (default: every topic, internal ones included) has a leader and all its
   * replicas in sync; rejects after `timeoutMs` (default 60 s) with the brokers' log tails.
   */
  waitInSync(topics?: string[], options?: { timeoutMs?: number }): Promise<void>;
  /** SIGKILLs every node and deletes the temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts a private Kafka 3.9 KRaft cluster on this machine (default 3 nodes, each broker + controller in its own JVM
 * with a small heap), from the jars `ensureKafka` fetches; resolves once every broker is registered and a topic
 * replicated on all of them is in sync. Rejects with the brokers' log tails when it cannot start in `timeoutMs`.
 * The JVMs are killed when the process exits; call {@link KafkaCluster.stop} in `afterAll`.
 */
export function startKafkaCluster(options?: KafkaClusterOptions): Promise<KafkaCluster>;

/**
 * For a suite that runs on a private Kafka cluster: {@link startKafkaCluster}, or, when it may not
 * (`UNISOCKET_SERVICES=off`) or cannot start, the rule of a missing service — with `CI=true` rejects with the reason,
 * otherwise one `[unisocket] SKIPPED: …` line on stderr and `undefined`.
 *
 * @example
 * const cluster = await kafkaClusterForTests();
 * describe.skipIf(!cluster)('on a 3-broker Kafka', () => { afterAll(() => cluster?.stop()); … });
 */
export function kafkaClusterForTests(options?: KafkaClusterOptions): Promise<KafkaCluster | undefined>;
