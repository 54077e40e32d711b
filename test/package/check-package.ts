/**
 * `npm run check:package`: packs the built package (run `npm run build`
 * first; packing here skips prepack so CI builds once) into dist/pack/ and
 * lints the tarball with publint and @arethetypeswrong/cli. Prints the
 * tarball's path last, for the consumer test (FLOCK_PACKAGE_TARBALL).
 *
 * @example
 * npm run build && npm run check:package
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const packDir = join(root, 'dist', 'pack');

if (!existsSync(join(root, 'dist', 'lib', 'cli', 'index.js'))) {
  console.error('check:package: no build in dist/lib; run `npm run build` first');
  process.exit(1);
}
rmSync(packDir, { recursive: true, force: true });
mkdirSync(packDir, { recursive: true });
const packed = JSON.parse(
  execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], {
    cwd: root,
    encoding: 'utf8',
  }),
) as { filename: string; entryCount: number; size: number; unpackedSize: number }[];
const { filename, entryCount, size, unpackedSize } = packed[0];
const tarball = join(packDir, filename);
console.log(
  `== ${filename}: ${entryCount} files, ${(size / 1e6).toFixed(2)} MB packed, ${(unpackedSize / 1e6).toFixed(2)} MB unpacked`,
);

// attw skips wildcard subpaths ("./shared/*", "./worker/*"); name each one that exists.
const shared = readdirSync(join(root, 'dist', 'lib', 'shared')).filter((d) =>
  existsSync(join(root, 'dist', 'lib', 'shared', d, 'index.js')),
);
const workers = readdirSync(join(root, 'dist', 'lib', 'worker'))
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3));
const entrypoints = [...shared.map((d) => `./shared/${d}`), ...workers.map((w) => `./worker/${w}`)];

const bin = (name: string) => join(root, 'node_modules', '.bin', name);
execFileSync(bin('publint'), ['--strict', tarball], { cwd: root, stdio: 'inherit' });
// ESM only: no CommonJS build, so node10 / require() resolutions are out of scope.
execFileSync(
  bin('attw'),
  ['--profile', 'esm-only', '--format', 'table-flipped', '--include-entrypoints', ...entrypoints, '--', tarball],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
console.log(tarball);
