export { freePort } from './net.mjs';
export { ensureRedis, startRedisServer } from './redis.mjs';
export { ensureKafka, startKafka, stopKafka, restartKafka } from './kafka.mjs';
export { requireService } from './require-service.mjs';
