import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'client',
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // integration tests run real servers and sockets; the soak test sets its own, longer timeout
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
