export { freePort } from './net.mjs';
export { kafkaBrokers } from './config.mjs';
export { ensureRedis, startRedisServer } from './redis.mjs';
export { deleteRedisKeys } from './redis-keys.mjs';
export { ensureKafka, startKafka, stopKafka, restartKafka } from './kafka.mjs';
export { mayStartPrivate, requireService } from './require-service.mjs';
export { redisClusterForTests, startRedisCluster } from './redis-cluster.mjs';
export { kafkaClusterForTests, startKafkaCluster } from './kafka-cluster.mjs';
