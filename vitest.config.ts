import { defineConfig } from 'vitest/config';
import projects from './vitest.workspace';

// The project list lives in vitest.workspace.ts (the monorepo's layout file); vitest 3.2 reads it from `test.projects`.
export default defineConfig({
  test: {
    projects,
    // starts Redis and Kafka when they are not running (UNISOCKET_SERVICES=off to skip); see tooling/services
    globalSetup: ['./tooling/services/src/global-setup.mjs'],
  },
});
