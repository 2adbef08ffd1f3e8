import { defineConfig } from 'tsup';

/** `UNISOCKET_BUILD_NO_DTS=1` skips the declaration files (the demo's `pnpm start` path: they take most of the build). */
const withDeclarations = process.env.UNISOCKET_BUILD_NO_DTS !== '1';

// src/bin.ts starts with `#!/usr/bin/env node` (esbuild keeps an entry's hashbang): dist/bin.js is the `unisocket` bin
export default defineConfig({
  entry: ['src/index.ts', 'src/bin.ts'],
  format: ['esm'],
  dts: withDeclarations && { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
});
