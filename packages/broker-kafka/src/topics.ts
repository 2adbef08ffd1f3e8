import type { Admin, ITopicConfig } from 'kafkajs';
import { retrying } from './connection';

/**
 * Creates `topics` (one that exists already is left as it is) and resolves once every partition of each has a
 * leader; rejects at `deadline` (epoch ms).
 *
 * Not kafkajs's `waitForLeaders`: it asks one broker for the new topics' metadata right after the controller created
 * them, and on a cluster of several brokers that broker may not have applied the change yet. It answers
 * `UNKNOWN_TOPIC_OR_PARTITION`, which `waitForLeaders` does not wait out: a topic that was created was reported as a
 * failure. Here the metadata is asked again (any broker, retriable errors retried) until it shows every leader.
 */
export async function createTopicsAndWait(admin: Admin, topics: ITopicConfig[], deadline: number): Promise<void> {
  // a repeated request after a lost answer finds the topics there (kafkajs answers `false`, not an error)
  await retrying(() => admin.createTopics({ topics, waitForLeaders: false }), deadline);
  const names = topics.map((t) => t.topic);
  for (let pause = 50; ; pause = Math.min(pause * 2, 500)) {
    const { topics: metadata } = await retrying(() => admin.fetchTopicMetadata({ topics: names }), deadline);
    const waiting = names.filter((name) => {
      const partitions = metadata.find((t) => t.name === name)?.partitions ?? [];
      return partitions.length === 0 || partitions.some((p) => p.leader < 0);
    });
    if (waiting.length === 0) return;
    if (Date.now() + pause > deadline) {
      throw Object.assign(
        new Error(`topics ${waiting.join(', ')} were created but not every partition has a leader yet`),
        {
          retriable: true,
        },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
