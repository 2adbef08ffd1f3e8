import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'bench',
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // The end-to-end smoke test spawns a server and load-generator processes.
    testTimeout: 30_000,
  },
});
