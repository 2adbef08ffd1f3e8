import { defineConfig } from 'tsup';

// src/bin.ts starts with `#!/usr/bin/env node` (esbuild keeps an entry's hashbang): dist/bin.js is the `unisocket` bin
export default defineConfig({
  entry: ['src/index.ts', 'src/bin.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
});
