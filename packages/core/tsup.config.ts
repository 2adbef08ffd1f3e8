import { defineConfig } from 'tsup';

/** `UNISOCKET_BUILD_NO_DTS=1` skips the declaration files (the demo's `pnpm start` path: they take most of the build). */
const withDeclarations = process.env.UNISOCKET_BUILD_NO_DTS !== '1';

export default defineConfig({
  // `protocol` is browser-safe (no Node imports): @unisocket/client imports it
  entry: { index: 'src/index.ts', protocol: 'src/protocol/index.ts' },
  format: ['esm', 'cjs'],
  // the two structures core uses from @unisocket/memory (CircularBuffer, LRUCache) are bundled, code and types, so
  // that core, and @unisocket/client through it, do not install the server-side memory package (a devDependency)
  noExternal: ['@unisocket/memory'],
  dts: withDeclarations && { resolve: ['@unisocket/memory'] },
  sourcemap: true,
  clean: true,
  target: 'node20',
});
