import { createRequire } from 'node:module';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineProject } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineProject({
  plugins: [
    svelte({
      compilerOptions: {
        // the test components create their stores once from their props, on purpose
        warningFilter: (warning) => warning.code !== 'state_referenced_locally',
      },
    }),
    // resolves Svelte's browser build (mount() needs it) and cleans up after each test
    svelteTesting(),
  ],
  resolve: {
    // the browser condition would also give `ws`'s browser stub to the live test server and the test's sockets
    alias: { ws: require.resolve('ws') },
  },
  test: {
    name: 'svelte',
    include: ['test/**/*.test.ts'],
    // component tests render into happy-dom; the client talks to a live server over real sockets (ws)
    environment: 'happy-dom',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // the live server's packages run as plain Node modules (Node's own resolution), not through the browser conditions
    server: {
      deps: {
        external: [
          /\/packages\/(core|server|transport-ws|memory|monitoring|broker-redis|broker-kafka|transport-socketio)\/dist\//,
        ],
      },
    },
  },
});
