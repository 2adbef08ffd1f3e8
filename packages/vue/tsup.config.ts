import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: false,
  target: 'es2022',
  platform: 'neutral',
  // vue and the client stay imports: one Vue, one client copy in the app
  external: ['vue', '@unisocket/client'],
});
