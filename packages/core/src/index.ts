/**
 * @unisocket/core — the protocol, the codec, channels, the Hub, and the Broker / HistoryStore / PresenceStore
 * interfaces with their in-memory implementations.
 * @packageDocumentation
 */
export * from './protocol/index';
export {
  decodeFrame,
  decodeCommand,
  validateCommand,
  encodeFrame,
  exceedsDepth,
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  type DecodeResult,
} from './codec';
export {
  type Deliverable,
  type StreamMessage,
  type PublishRequest,
  type PublishResult,
  messageHead,
  completeLine,
  toStreamMessage,
} from './message';
export {
  type HistoryStore,
  type HistoryRead,
  type HistoryOptions,
  type ChannelCoverage,
  type MemoryHistoryHooks,
  MemoryHistoryStore,
  DEFAULT_HISTORY_OPTIONS,
  resolveHistoryOptions,
} from './history';
export {
  type PresenceStore,
  type PresenceAddResult,
  type PresenceRemoveResult,
  MemoryPresenceStore,
} from './presence';
export {
  Broker,
  type BrokerHost,
  type BrokerOptions,
  type BrokerState,
  type BrokerStats,
  type BrokerHealth,
  type BrokerEvents,
  type ResolvedBrokerOptions,
  type SubscriberCountFilter,
  DEFAULT_BROKER_OPTIONS,
  resolveBrokerOptions,
} from './broker';
export { warnDeprecated, renamedOption } from './deprecation';
export {
  MemoryBroker,
  MemoryBus,
  type MemoryBrokerOptions,
  type MemoryBusOptions,
  DEFAULT_MEMORY_BUS_OPTIONS,
} from './memory-broker';
export { PreparedBatch } from './prepared-batch';
export {
  Connection,
  type TransportSocket,
  type TransportKind,
  type Identity,
  type ConnectionInit,
} from './connection';
export type { Admission, AdmissionCheck, AdmissionContext } from './admission';
export {
  type UpgradeAdmission,
  admitUpgrade,
  ignoreSocketError,
  refuseUpgrade,
  refuseUpgradeWith,
  shuttingDown,
} from './upgrade';
export {
  type BackpressureOptions,
  type BackpressurePolicy,
  type BackpressureRule,
  type CoalesceKey,
  type CoalesceMessage,
  type DropReason,
  type ResolvedBackpressure,
  type ChannelPolicy,
  defaultLowWaterBytes,
  resolveBackpressure,
} from './backpressure';
export {
  Hub,
  type HubOptions,
  type HubLimits,
  type HubPolicy,
  type HubStats,
  type TransportTotals,
  type HubEvents,
  type ClientPublish,
  type OccupancyAction,
  type OccupancyOptions,
  type ResolvedOccupancy,
  type BatchOptions,
  type PresenceOptions,
  type SessionOptions,
  type PublishAck,
  type PublishOptions,
  type SubscribeGrant,
  type SubscribeContext,
  type RecoveryOptions,
  type ResolvedRecoveryOptions,
  type RecoveryStats,
  DEFAULT_RECOVERY_OPTIONS,
  resolveRecoveryOptions,
  RECONNECT_ADVICE_KEY,
  MAX_RECONNECT_SPREAD_MS,
  withReconnectAdvice,
  readReconnectAdvice,
  autoReconnectSpreadMs,
  resolveReconnectSpread,
  reconnectAdvice,
  DEFAULT_HUB_LIMITS,
  HUB_LIMIT_MINIMUMS,
  DEFAULT_BATCH_OPTIONS,
  DEFAULT_PRESENCE_OPTIONS,
  DEFAULT_SESSION_OPTIONS,
  resolveNumbers,
  OCCUPANCY_KEY_PREFIX,
  occupancyKey,
  channelOfOccupancyKey,
} from './hub';
export {
  LatencyRecorder,
  type LatencyRecorderOptions,
  DEFAULT_LATENCY_BUCKETS_MS,
} from './latency';
export {
  type MaybePromise,
  isPromiseLike,
  settle,
  IdGenerator,
  IdWindow,
  randomNodeId,
  assertNodeId,
} from './util';
