import { defineProject } from 'vitest/config';

// the tests spawn the built binary (dist/bin.js) and talk to it over HTTP and WebSocket: generous timeouts
export default defineProject({
  test: {
    name: 'cli',
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
