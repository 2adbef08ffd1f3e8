import { defineConfig } from 'tsup';

export default defineConfig({
  // `protocol` is browser-safe (no Node imports): @unisocket/client imports it
  entry: { index: 'src/index.ts', protocol: 'src/protocol/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
