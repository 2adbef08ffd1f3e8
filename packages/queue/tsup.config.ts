import { defineConfig } from 'tsup';

/** `UNISOCKET_BUILD_NO_DTS=1` skips the declaration files (the demo's `pnpm start` path: they take most of the build). */
const withDeclarations = process.env.UNISOCKET_BUILD_NO_DTS !== '1';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: withDeclarations,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // import.meta.url in the CommonJS build too (isBullInstalled resolves the optional peers from this package)
  shims: true,
});
