/**
 * Build plugins of the Inbox demo: `inbox/mails.json` (held-out mails of the
 * SpamAssassin corpus, demo/build/inbox-mails.ts) and the Inbox service
 * worker, `inbox/sw.js`, built after the pages as one classic script with
 * the Inbox shell baked in: the page, every chunk and asset it reaches, its
 * mails and the tfjs wasm binaries, each with a content hash.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Alias, type Plugin } from 'vite';
import type { PrecacheEntry } from '../src/inbox/shell-routes.ts';
import { inboxMailFile } from './inbox-mails.ts';

const PAGE = 'inbox/index.html';
const MAILS = 'inbox/mails.json';
const WORKER = 'inbox/sw.js';

interface BundleFile {
  type: 'chunk' | 'asset';
  fileName: string;
  code?: string;
  facadeModuleId?: string | null;
  imports?: string[];
  dynamicImports?: string[];
  viteMetadata?: { importedCss?: Set<string>; importedAssets?: Set<string> };
}

/**
 * The output files the Inbox page needs: its entry chunk and what it imports
 * (static and dynamic), their CSS and assets, and any other asset a reached
 * chunk names in its code (the training worker Vite emits beside it).
 *
 * @example
 * inboxFiles(bundle, '/repo/demo/inbox/index.html') // ['assets/inbox-1a2b.js', 'assets/inbox-3c4d.css', ...]
 */
export function inboxFiles(bundle: Record<string, BundleFile>, pageModule: string): string[] {
  const files = Object.values(bundle);
  const entry = files.find((f) => f.type === 'chunk' && f.facadeModuleId === pageModule);
  if (!entry) throw new Error(`the build has no chunk for ${pageModule}: is it an input of demo/vite.config.ts?`);
  const reached = new Set<string>();
  const visit = (name: string) => {
    if (reached.has(name)) return;
    reached.add(name);
    const file = bundle[name];
    if (!file || file.type !== 'chunk') return;
    for (const next of [...(file.imports ?? []), ...(file.dynamicImports ?? [])]) visit(next);
    for (const css of file.viteMetadata?.importedCss ?? []) reached.add(css);
    for (const asset of file.viteMetadata?.importedAssets ?? []) reached.add(asset);
    for (const asset of files)
      if (
        asset.type === 'asset' &&
        asset.fileName.startsWith('assets/') &&
        file.code?.includes(asset.fileName.slice(7))
      )
        visit(asset.fileName);
  };
  visit(entry.fileName);
  return [...reached].sort();
}

function precacheEntries(outDir: string, files: readonly string[]): { version: string; entries: PrecacheEntry[] } {
  const entries = files
    .map((file) => ({
      url: `/${file}`,
      revision: createHash('sha256')
        .update(readFileSync(join(outDir, file)))
        .digest('hex')
        .slice(0, 16),
    }))
    .sort((a, b) => a.url.localeCompare(b.url));
  return { version: createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 12), entries };
}

/**
 * Emits inbox/mails.json; after the pages are written, builds demo/src/inbox/service-worker.ts into inbox/sw.js.
 * `alias` resolves the SDK's package name for the worker's own build, as the pages' build does.
 */
export function inboxAssets(root: string, outDir: string, alias: Alias[]): Plugin {
  let shellFiles: string[] = [];
  return {
    name: 'flock-inbox-assets',
    apply: 'build',
    generateBundle(_options, bundle) {
      this.emitFile({ type: 'asset', fileName: MAILS, source: JSON.stringify(inboxMailFile()) });
      const reached = inboxFiles(bundle as unknown as Record<string, BundleFile>, join(root, 'demo', PAGE));
      shellFiles = [PAGE, MAILS, ...reached];
    },
    async closeBundle() {
      // The wasm binaries the Digits build emits (demo/build/pwa-assets.ts) under /wasm/.
      const wasmDir = join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
      const wasm = readdirSync(wasmDir)
        .filter((f) => f.endsWith('.wasm'))
        .map((f) => `wasm/${f}`);
      const shell = precacheEntries(outDir, [...new Set([...shellFiles, ...wasm])]);
      await build({
        configFile: false,
        root,
        publicDir: false,
        logLevel: 'warn',
        resolve: { alias },
        define: { __INBOX_PRECACHE__: JSON.stringify(shell) },
        build: {
          outDir: join(outDir, 'inbox'),
          emptyOutDir: false,
          minify: true,
          sourcemap: false,
          // One classic script: module service workers cannot use dynamic import().
          lib: {
            entry: join(root, 'demo', 'src', 'inbox', 'service-worker.ts'),
            name: 'FlockInboxServiceWorker',
            formats: ['iife'],
            fileName: () => WORKER.slice('inbox/'.length),
          },
        },
      });
    },
  };
}
