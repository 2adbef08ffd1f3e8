import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'services',
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // These start real servers; the first Kafka run also downloads its jars.
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
});
