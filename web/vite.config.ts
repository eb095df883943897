import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const webRoot = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../dist/web', import.meta.url));
/** In development the API runs on its own port; the dev server forwards everything that is not the app. */
const apiTarget = process.env.API_URL ?? 'http://localhost:8080';
const proxied = ['/api', '/fhir', '/auth', '/oauth2', '/healthz'];

export default defineConfig({
  root: webRoot,
  base: '/',
  plugins: [react()],
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: Object.fromEntries(proxied.map((path) => [path, { target: apiTarget, ws: path === '/api', changeOrigin: false }])),
  },
});
