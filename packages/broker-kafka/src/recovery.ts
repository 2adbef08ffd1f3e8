import type { Admin, Kafka } from 'kafkajs';
import type { KafkaHistory } from './history';
import { ReadBack, type ReadBackOptions } from './read-back';

/**
 * Wires the recovery sources of a {@link KafkaHistory} beyond this node's window: the partition's real end in Kafka
 * (to check a position ahead of this node), and — when `readBack` is on — a {@link ReadBack} reader in its own group
 * (`<groupId>.read-back`) that reads a channel's partition back from Kafka. Returns the reader (to start and close
 * with the broker), or `undefined` when read-back is off.
 */
export function wireRecovery(
  history: KafkaHistory,
  kafka: Kafka,
  admin: Admin,
  topic: string,
  groupId: string,
  readBackOptions: Required<ReadBackOptions> | undefined,
  report: (error: unknown) => void,
): ReadBack | undefined {
  history.setPartitionEnd(async (partition) => {
    const offsets = await admin.fetchTopicOffsets(topic);
    return Number(offsets.find((o) => o.partition === partition)?.high ?? 0);
  });
  if (readBackOptions === undefined) return undefined;
  const readBack = new ReadBack(
    kafka,
    topic,
    `${groupId}.read-back`,
    readBackOptions,
    (p) => history.epochOf(p),
    (error) => report(error),
  );
  history.setReadBack(
    (channel, partition, after, until) => readBack.read(channel, partition, after, until),
    (error) => report(error),
  );
  return readBack;
}
