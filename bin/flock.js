#!/usr/bin/env node
// The `flock` command. The installed package runs the built JavaScript
// (dist/lib, made by `npm run build`); a dev checkout, which has the
// TypeScript sources, runs those through tsx so edits need no rebuild.
import { existsSync } from 'node:fs';

const sources = new URL('../cli/index.ts', import.meta.url);
let main;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(sources.href));
} else {
  ({ main } = await import('../dist/lib/cli/index.js'));
}
process.exitCode = await main(process.argv);
