import { Cluster, Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { type RedisCluster, redisClusterForTests } from '../../../tooling/services/src/redis-cluster.mjs';
import type { RedisBrokerOptions } from '../src/index';
import { REDIS_URL, redisAvailable } from './redis';

/**
 * Where a parametrised suite runs: the shared single Redis, or a private Redis Cluster (3 masters with a replica each)
 * started once per test file. Use with `describe.each(await redisTargets())('… on $name', (target) => …)`.
 */
export interface RedisTarget {
  readonly name: 'a single Redis' | 'a Redis Cluster';
  /** `false`: skip (no Redis, or no cluster outside CI). */
  readonly available: boolean;
  /** The private cluster (only for the cluster target). */
  readonly cluster: RedisCluster | undefined;
  /** The broker options that reach it: `url`, or `redis` (a Cluster template the broker duplicates). */
  brokerOptions(): Pick<RedisBrokerOptions, 'url' | 'redis'>;
  /** A client for assertions, closed after the file. */
  client(): Redis | Cluster;
  /** The environment of the node fixture (test/fixtures/node.mjs) that points it here. */
  nodeEnv(): Record<string, string>;
}

const clients: (Redis | Cluster)[] = [];
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
});

const single: RedisTarget = {
  name: 'a single Redis',
  available: redisAvailable,
  cluster: undefined,
  brokerOptions: () => ({ url: REDIS_URL }),
  client() {
    const client = new Redis(REDIS_URL);
    clients.push(client);
    return client;
  },
  nodeEnv: () => ({ REDIS_URL }),
};

/** ioredis options for a client of the test cluster: quick slot refreshes so a failover is noticed at once. */
export const CLUSTER_CLIENT_OPTIONS = { lazyConnect: true, slotsRefreshInterval: 1_000 } as const;

function clusterTarget(cluster: RedisCluster | undefined): RedisTarget {
  const nodes = (): { host: string; port: number }[] =>
    cluster?.nodes.map((n) => ({ host: n.host, port: n.port })) ?? [];
  return {
    name: 'a Redis Cluster',
    available: cluster !== undefined,
    cluster,
    brokerOptions: () => ({ redis: new Cluster(nodes(), CLUSTER_CLIENT_OPTIONS) }),
    client() {
      const client = new Cluster(nodes(), { slotsRefreshInterval: 1_000 });
      clients.push(client);
      return client;
    },
    nodeEnv: () => ({
      REDIS_CLUSTER: nodes()
        .map((n) => `${n.host}:${n.port}`)
        .join(','),
    }),
  };
}

let started: Promise<RedisTarget[]> | undefined;

/**
 * The single Redis and a Redis Cluster started for this test file (stopped after it). Under `CI=true` a cluster that
 * cannot start fails the file; elsewhere its suites skip with one SKIPPED line.
 */
export function redisTargets(): Promise<RedisTarget[]> {
  started ??= (async () => {
    const cluster = await redisClusterForTests();
    afterAll(() => cluster?.stop());
    return [single, clusterTarget(cluster)];
  })();
  return started;
}

/** A direct connection to the cluster node that serves `key` (for commands that are per node, like PUBSUB). */
export async function nodeServing(cluster: RedisCluster, key: string): Promise<Redis> {
  const master = await cluster.masterOf(key);
  const client = new Redis({ host: master.host, port: master.port });
  clients.push(client);
  return client;
}
