import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisBroker } from '../src/index';

// No Redis needed: only option resolution (the clients are created lazily and never connect).
describe('RedisBroker redis option', () => {
  it('refuses a client of another copy of ioredis (it would be taken for connection options to 127.0.0.1:6379)', () => {
    // what a Redis or Cluster of another ioredis copy looks like to this one: not instanceof, same members
    class ForeignCluster {
      readonly isCluster = true;
      readonly options = { redisOptions: {} };
      duplicate(): ForeignCluster {
        return new ForeignCluster();
      }
    }
    class ForeignRedis {
      readonly isCluster = false;
      readonly options = { host: 'redis.internal', port: 6380 };
      duplicate(): ForeignRedis {
        return new ForeignRedis();
      }
    }
    for (const client of [new ForeignCluster(), new ForeignRedis()]) {
      expect(() => new RedisBroker({ redis: client as never })).toThrow(
        /another copy of ioredis .*install a single ioredis version/,
      );
    }
  });

  it("takes this copy's Redis and Cluster, and ioredis options", () => {
    const redis = new Redis({ lazyConnect: true });
    const cluster = new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true });
    try {
      expect(() => new RedisBroker({ redis })).not.toThrow();
      expect(() => new RedisBroker({ redis: cluster })).not.toThrow();
      expect(() => new RedisBroker({ redis: { host: '127.0.0.1', port: 6379 } })).not.toThrow();
    } finally {
      redis.disconnect();
      cluster.disconnect();
    }
  });
});
