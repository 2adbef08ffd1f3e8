import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'deploy',
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // the packed install runs `npm install` from the registry; Prometheus waits for a scrape of both nodes
    testTimeout: 90_000,
    hookTimeout: 90_000,
  },
});
