/**
 * Build of the "Digits" PWA, the "Inbox" page and the operator dashboard (one
 * multi-page Vite build, served by `flock serve` on the coordinator's port),
 * plus their service workers and generated PWA assets. The Inbox imports the
 * SDK by its package name (`flock-ml`), as an app of someone else would; the
 * aliases below resolve it to the sources.
 *
 * @example
 * npx vite build -c demo/vite.config.ts   # -> dist/demo/{index.html,dashboard/index.html,inbox/index.html,sw.js,...}
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Alias } from 'vite';
import { flockWasmThreads } from '../client/build/wasm-threads-plugin.ts';
import { inboxAssets } from './build/inbox-assets.ts';
import { pwaAssets, serviceWorkerBuild } from './build/pwa-assets.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const demoDir = join(root, 'demo');
const outDir = join(root, 'dist', 'demo');
/** The package's own name, as package.json "exports" maps it (`.` and `./worker`), onto the sources. */
const sdkAlias: Alias[] = [
  { find: /^flock-ml$/, replacement: join(root, 'client', 'index.ts') },
  { find: /^flock-ml\/worker(?=\?|$)/, replacement: join(root, 'worker', 'training-worker.ts') },
];

export default defineConfig({
  root: demoDir,
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  resolve: { alias: sdkAlias },
  plugins: [flockWasmThreads(), pwaAssets(root), serviceWorkerBuild(root, outDir), inboxAssets(root, outDir, sdkAlias)],
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    // tfjs-backend-wasm starts its pthread workers from a function's source text; minifying renames
    // what that text refers to ("e is not defined" in the worker), so the threaded build would hang.
    minify: false,
    chunkSizeWarningLimit: 4096, // tfjs is one big dependency; splitting it buys nothing here
    rollupOptions: {
      input: {
        digits: join(demoDir, 'index.html'),
        dashboard: join(demoDir, 'dashboard', 'index.html'),
        inbox: join(demoDir, 'inbox', 'index.html'),
      },
    },
  },
});
