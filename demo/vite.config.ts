/**
 * Build of the "Digits" PWA and the operator dashboard (one multi-page Vite
 * build, served by `flock serve` on the coordinator's port), plus its
 * service worker and generated PWA assets.
 *
 * @example
 * npx vite build -c demo/vite.config.ts   # -> dist/demo/{index.html,dashboard/index.html,sw.js,...}
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { flockWasmThreads } from '../client/build/wasm-threads-plugin.ts';
import { pwaAssets, serviceWorkerBuild } from './build/pwa-assets.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const demoDir = join(root, 'demo');
const outDir = join(root, 'dist', 'demo');

export default defineConfig({
  root: demoDir,
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  plugins: [flockWasmThreads(), pwaAssets(root), serviceWorkerBuild(root, outDir)],
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    // tfjs-backend-wasm starts its pthread workers from a function's source text; minifying renames
    // what that text refers to ("e is not defined" in the worker), so the threaded build would hang.
    minify: false,
    chunkSizeWarningLimit: 4096, // tfjs is one big dependency; splitting it buys nothing here
    rollupOptions: {
      input: { digits: join(demoDir, 'index.html'), dashboard: join(demoDir, 'dashboard', 'index.html') },
    },
  },
});
