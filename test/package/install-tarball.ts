/**
 * The package as a stranger installs it: the tarball `npm run check:package`
 * packs (built first when missing, or FLOCK_PACKAGE_TARBALL from `.ci/run`)
 * unpacked into a fresh project's node_modules, its dependencies linked from
 * this checkout's (an offline `npm install` would rebuild better-sqlite3).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const packDir = join(REPO_ROOT, 'dist', 'pack');

/** The packed tarball's path, building and packing once when there is none. */
export function packedTarball(): string {
  if (process.env.FLOCK_PACKAGE_TARBALL) return process.env.FLOCK_PACKAGE_TARBALL;
  const find = () => (existsSync(packDir) ? readdirSync(packDir).find((f) => f.endsWith('.tgz')) : undefined);
  if (!find()) {
    execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'pipe' });
    execFileSync('npm', ['run', 'check:package'], { cwd: REPO_ROOT, stdio: 'pipe' });
  }
  return join(packDir, find()!);
}

export interface ConsumerProject {
  dir: string;
  /** Paths inside the tarball, e.g. `package/dist/lib/client/index.js`. */
  files: string[];
  /** The installed `flock` bin. */
  bin: string;
}

/**
 * A fresh project (`type: module`) with `flock-ml` installed from the tarball.
 * @example const project = installTarball('flock-consumer-'); // project.bin runs `flock`
 */
export function installTarball(prefix: string): ConsumerProject {
  const tgz = packedTarball();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const modules = join(dir, 'node_modules');
  const pkg = join(modules, 'flock-ml');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['-xzf', tgz, '-C', pkg, '--strip-components=1']);
  const files = execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const dep of readdirSync(join(REPO_ROOT, 'node_modules'))) {
    if (dep === '.bin' || dep.startsWith('.') || dep === 'flock-ml') continue;
    symlinkSync(join(REPO_ROOT, 'node_modules', dep), join(modules, dep));
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  return { dir, files, bin: join(pkg, 'bin', 'flock.js') };
}
