import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'broker-kafka',
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // a real Kafka broker, real processes, group joins and a broker restart: generous bounds
    testTimeout: 120_000,
    hookTimeout: 180_000,
    env: { KAFKAJS_NO_PARTITIONER_WARNING: '1' },
  },
});
