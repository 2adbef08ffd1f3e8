import { readdir, readFile, writeFile } from 'node:fs/promises';
import { defineConfig } from 'tsup';

/**
 * Writes dist/web/index.html: web/index.html with the source entry (`/src/main.tsx`, which Vite's dev server serves)
 * replaced by the built, hashed script, its stylesheet and the chunks it imports (modulepreload).
 */
async function writeIndexHtml(): Promise<void> {
  const assets = await readdir('dist/web/assets');
  const script = assets.find((name) => /^main-[\w-]+\.js$/.test(name));
  const style = assets.find((name) => /^main-[\w-]+\.css$/.test(name));
  if (script === undefined) throw new Error('the page build wrote no dist/web/assets/main-*.js');
  const source = await readFile('web/index.html', 'utf8');
  const entry = '<script type="module" src="/src/main.tsx"></script>';
  if (!source.includes(entry)) throw new Error(`web/index.html must load the page with ${entry}`);
  // the chunks the entry imports statically (shared with the Pusher page): preloaded with it, not one after the other
  const code = await readFile(`dist/web/assets/${script}`, 'utf8');
  const chunks = new Set([...code.matchAll(/\bfrom\s*"\.\/([\w.-]+\.js)"/g)].map((m) => m[1]));
  const head = [
    ...(style === undefined ? [] : [`<link rel="stylesheet" href="/assets/${style}">`]),
    ...[...chunks].map((chunk) => `<link rel="modulepreload" href="/assets/${chunk}">`),
  ];
  let html = source.replace(entry, `<script type="module" src="/assets/${script}"></script>`);
  html = html.replace('</head>', `${head.map((tag) => `  ${tag}\n`).join('')}</head>`);
  await writeFile('dist/web/index.html', html);
}

export default defineConfig([
  {
    // the server (node dist/main.js)
    entry: { main: 'src/main.ts', demo: 'src/demo.ts' },
    format: ['esm'],
    dts: false,
    sourcemap: true,
    // everything but the page, which the second build writes at the same time
    clean: ['!web/**'],
    target: 'node20',
  },
  {
    // the page (web/, a React app) for the browser, served by the server at `/` and `/assets/*`: esbuild through
    // tsup, a second or so where `vite build` took ten (Vite stays for the dev server, `pnpm dev:web`)
    entry: { main: 'web/src/main.tsx' },
    outDir: 'dist/web/assets',
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    // React, socket.io-client, Laravel Echo, pusher-js and the unisocket packages are all bundled into the page;
    // socket.io-client and the Pusher page are separate chunks fetched only for their transport
    noExternal: [/.*/],
    splitting: true,
    minify: true,
    sourcemap: true,
    dts: false,
    clean: true,
    tsconfig: 'web/tsconfig.json',
    define: { 'process.env.NODE_ENV': '"production"' },
    esbuildOptions(options) {
      options.jsx = 'automatic';
      // a content hash in every name: the server serves /assets/* as immutable
      options.entryNames = '[name]-[hash]';
      options.chunkNames = '[name]-[hash]';
      options.assetNames = '[name]-[hash]';
    },
    onSuccess: writeIndexHtml,
  },
]);
