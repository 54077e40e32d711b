/**
 * Build plugins of the demo: the web manifest and its generated icons, the
 * tfjs wasm binaries (shipped in the shell so inference works offline), and
 * the service worker, built last as one self-contained script with the list of
 * shell files (and their content hashes) baked in.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { build, type Plugin } from 'vite';
import type { PrecacheEntry } from '../src/sw/shell-cache.ts';
import { drawIcon, encodePng } from './png-icon.ts';

export const WEB_MANIFEST = {
  name: 'Flock Digits',
  short_name: 'Digits',
  description: 'Draw a digit; a model on your device reads it, offline too, and learns from your corrections.',
  start_url: '/',
  scope: '/',
  display: 'standalone',
  background_color: '#0f172a',
  theme_color: '#1e3a8a',
  icons: [
    { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any maskable' },
    { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any maskable' },
  ],
};

/** Emits manifest.webmanifest, the icons, and wasm/tfjs-backend-wasm*.wasm. */
export function pwaAssets(root: string): Plugin {
  return {
    name: 'flock-pwa-assets',
    apply: 'build',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'manifest.webmanifest', source: JSON.stringify(WEB_MANIFEST, null, 2) });
      for (const size of [192, 512])
        this.emitFile({
          type: 'asset',
          fileName: `icons/icon-${size}.png`,
          source: encodePng(size, size, drawIcon(size)),
        });
      const wasmDir = join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
      for (const file of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) {
        this.emitFile({ type: 'asset', fileName: `wasm/${file}`, source: readFileSync(join(wasmDir, file)) });
      }
    },
  };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

/**
 * The precache list of a built shell: every file but the worker itself, with a content hash.
 *
 * @example
 * const { version, entries } = shellManifest('dist/demo');
 */
export function shellManifest(outDir: string): { version: string; entries: PrecacheEntry[] } {
  const entries = listFiles(outDir)
    .map((path) => ({ path, url: `/${relative(outDir, path).split(sep).join('/')}` }))
    .filter(({ url }) => url !== '/sw.js' && !url.endsWith('.map'))
    .map(({ path, url }) => ({
      url,
      revision: createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16),
    }))
    .sort((a, b) => a.url.localeCompare(b.url));
  const version = createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 12);
  return { version, entries };
}

/** After the pages are written, builds demo/src/sw/service-worker.ts into `<outDir>/sw.js`. */
export function serviceWorkerBuild(root: string, outDir: string): Plugin {
  return {
    name: 'flock-service-worker',
    apply: 'build',
    async closeBundle() {
      const shell = shellManifest(outDir);
      await build({
        configFile: false,
        root,
        publicDir: false,
        logLevel: 'warn',
        define: { __FLOCK_PRECACHE__: JSON.stringify(shell) },
        build: {
          outDir,
          emptyOutDir: false,
          minify: true,
          sourcemap: false,
          // One classic script: module service workers cannot use dynamic import().
          lib: {
            entry: join(root, 'demo', 'src', 'sw', 'service-worker.ts'),
            name: 'FlockServiceWorker',
            formats: ['iife'],
            fileName: () => 'sw.js',
          },
        },
      });
    },
  };
}
