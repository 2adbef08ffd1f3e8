import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'package-check',
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // npm installs through a cold Verdaccio proxy (every run starts from an empty registry and cache), tsc, a Vite build
    testTimeout: 120_000,
    hookTimeout: 240_000,
  },
});
