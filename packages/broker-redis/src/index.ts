/**
 * @unisocket/broker-redis — scale unisocket across processes and machines on Redis: per-channel pub/sub fan-out to
 * the nodes that have subscribers, history in Redis Streams written atomically with the offset, and cluster-wide
 * presence with node leases.
 * @packageDocumentation
 */
export { RedisBroker, SUBSCRIBER_COUNTS_TIMEOUT_MS } from './redis-broker';
export { RedisHistoryStore } from './history';
export { RedisPresenceStore } from './presence';
export { KeySpace } from './keys';
export {
  type RedisBrokerOptions,
  type RedisPresenceOptions,
  DEFAULT_REDIS_BROKER_OPTIONS,
} from './options';
