import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The demo page (web/, a React app) in development, on Vite's dev server.
// `pnpm --filter @unisocket/demo dev:web` runs Vite's dev server (hot reload) against a demo server on :3000
// (`pnpm start`). The built page (`pnpm build`, `pnpm start`) comes from esbuild through tsup (tsup.config.ts).
const demoServer = process.env.DEMO_SERVER ?? 'http://localhost:3000';

export default defineConfig({
  root: 'web',
  // the page's base styles are shared with the dashboard (public/style.css) and imported by the app
  publicDir: false,
  plugins: [react()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    sourcemap: true,
  },
  server: {
    proxy: {
      '/ws': { target: demoServer.replace(/^http/, 'ws'), ws: true },
      '/socket.io': { target: demoServer, ws: true },
      '/demo': demoServer,
      '/dashboard': demoServer,
      '/health': demoServer,
      '/stats': demoServer,
    },
  },
});
