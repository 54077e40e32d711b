/**
 * Library build of the browser SDK: one self-contained IIFE, `flock.min.js`
 * (global `Flock`), with the tfjs wasm binaries copied beside it so nothing
 * is loaded from a CDN.
 *
 * @example
 * npx vite build -c client/vite.lib.config.ts   # -> dist/flock/flock.min.js + tfjs-backend-wasm*.wasm
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { flockWasmThreads } from './build/wasm-threads-plugin.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'flock');

function copyTfjsWasm(): Plugin {
  return {
    name: 'flock-copy-tfjs-wasm',
    apply: 'build',
    closeBundle() {
      const from = join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
      mkdirSync(outDir, { recursive: true });
      for (const file of readdirSync(from).filter((f) => f.endsWith('.wasm')))
        copyFileSync(join(from, file), join(outDir, file));
    },
  };
}

export default defineConfig({
  root,
  publicDir: false,
  logLevel: 'warn',
  plugins: [flockWasmThreads(), copyTfjsWasm()],
  build: {
    outDir,
    emptyOutDir: true,
    minify: true,
    sourcemap: false,
    lib: {
      entry: join(root, 'client', 'script-tag.ts'),
      name: 'Flock',
      formats: ['iife'],
      fileName: () => 'flock.min.js',
    },
  },
});
