import type { StreamMessage } from '@unisocket/core';
import type { Batch, KafkaMessage } from 'kafkajs';

/*
 * The record layout on the messages topic. Key: the channel (so a channel's records share a partition and keep
 * their order). Value: the message frame's JSON up to `"offset":` (the publish request's `head`): the offset is only
 * known once Kafka wrote the record, so the frame line is completed when the record is consumed, as
 * `value + (offset + 1) + "}"`, without parsing or re-serializing the data. Headers carry what the broker needs
 * without reading the value. The timestamp is the publish time (history TTL).
 */

/** The header with the message id (dedup across redelivery paths). */
export const HEADER_ID = 'u-id';
/** Present (`1`) when the id is a publisher's idempotency key: a repeat of it is dropped on every node. */
export const HEADER_IDEMPOTENT = 'u-idem';
/** Present (`1`) on unsequenced lines (presence join/leave): delivered live, never kept in history. */
export const HEADER_VOLATILE = 'u-v';

/** The message a consumed record carries, or `undefined` for a record that is not a unisocket message. */
export function messageOf(record: KafkaMessage, epoch: string, offset: number): StreamMessage | undefined {
  const headers = record.headers;
  const id = headers?.[HEADER_ID];
  if (id === undefined || record.key === null || record.value === null) return undefined;
  return {
    channel: record.key.toString(),
    id: id.toString(),
    epoch,
    offset,
    ts: Number(record.timestamp),
    line: `${record.value.toString()}${offset}}`,
  };
}

/** `true` when the record carries an unsequenced line. */
export function isVolatile(record: KafkaMessage): boolean {
  return record.headers?.[HEADER_VOLATILE] !== undefined;
}

/** `true` when the record's id is an idempotency key. */
export function isIdempotent(record: KafkaMessage): boolean {
  return record.headers?.[HEADER_IDEMPOTENT] !== undefined;
}

/** The offset a fetch asked for (kafkajs keeps it on the batch; its types omit it). */
export function fetchedOffset(batch: Batch): number {
  return Number((batch as Batch & { fetchedOffset: string }).fetchedOffset);
}
