/**
 * @unisocket/broker-kafka — unisocket on Kafka: {@link KafkaBroker} connects the nodes of a cluster over one topic
 * partitioned by channel; {@link KafkaBridge} streams Kafka topics into channels and forwards client publishes to
 * Kafka topics.
 * @packageDocumentation
 */
export { KafkaBroker } from './kafka-broker';
export { type KafkaBrokerOptions, DEFAULT_KAFKA_BROKER_OPTIONS } from './broker-options';
export { KafkaHistory, type PartitionState } from './history';
export { type ReadBackOptions, DEFAULT_READ_BACK_OPTIONS } from './read-back';
export { EpochStore } from './epochs';
export {
  type KafkaConnectionOptions,
  type KafkaSaslOptions,
  type KafkaLogLevel,
  createKafkaClient,
} from './connection';
export { partitionOf, murmur2 } from './partitioner';
export { HEADER_ID, HEADER_IDEMPOTENT, HEADER_VOLATILE } from './records';
export { KafkaBridge, createKafkaBridge } from './bridge';
export { recordId } from './bridge-inbound';
export {
  KafkaBridgeError,
  type KafkaBridgeOptions,
  type KafkaBridgeEvents,
  type BridgeRecord,
  type BridgeRoute,
  type BridgeDecoder,
  type BridgeStats,
  type BridgeTarget,
  type ForwardRule,
} from './bridge-options';
