import { defineConfig } from 'tsup';

/** `UNISOCKET_BUILD_NO_DTS=1` skips the declaration files (the demo's `pnpm start` path: they take most of the build). */
const withDeclarations = process.env.UNISOCKET_BUILD_NO_DTS !== '1';

export default defineConfig([
  {
    // the npm build: @unisocket/core stays a dependency (one UnisocketError, one protocol definition)
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: withDeclarations,
    sourcemap: true,
    clean: false,
    target: 'es2022',
    platform: 'neutral',
  },
  {
    // the browser bundle for a plain <script type="module"> page: self-contained, no Node modules, no `ws`
    entry: { 'unisocket.browser': 'src/browser.ts' },
    format: ['esm', 'iife'],
    globalName: 'Unisocket',
    // one file: the shared-connection module (a lazy chunk in the npm build) is inlined
    splitting: false,
    noExternal: [/.*/],
    platform: 'browser',
    target: 'es2020',
    sourcemap: true,
    minify: false,
    define: { __UNISOCKET_BROWSER_BUNDLE__: 'true' },
    // readable output, but dead branches (the Node-only `ws` fallback) are dropped
    esbuildOptions(options) {
      options.minifySyntax = true;
    },
    dts: false,
    clean: false,
  },
]);
