import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'vue',
    include: ['test/**/*.test.ts'],
    // component tests render into happy-dom; the client talks to a live server over real sockets (ws)
    environment: 'happy-dom',
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
