import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The demo page: a React app (web/) built into dist/web, which the demo server serves at `/` (src/demo.ts).
// `pnpm --filter @unisocket/demo dev:web` runs Vite's dev server against a demo server on :3000 (`pnpm start`).
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
