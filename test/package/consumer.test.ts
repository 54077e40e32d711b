/**
 * The package as a stranger installs it: the tarball `npm run check:package`
 * packed (built first when missing) unpacked into a fresh project's
 * node_modules, its dependencies linked from this checkout's (an offline
 * `npm install` would rebuild better-sqlite3). Plain `node`, no tsx: the
 * coordinator entry starts and stops a coordinator on loopback, the protocol
 * entry validates a plan, the `flock` bin prints its usage, and the tarball
 * holds declarations but no tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const packDir = join(root, 'dist', 'pack');

function tarball(): string {
  const find = () => (existsSync(packDir) ? readdirSync(packDir).find((f) => f.endsWith('.tgz')) : undefined);
  if (process.env.FLOCK_PACKAGE_TARBALL) return process.env.FLOCK_PACKAGE_TARBALL;
  if (!find()) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
    execFileSync('npm', ['run', 'check:package'], { cwd: root, stdio: 'pipe' });
  }
  return join(packDir, find()!);
}

describe('the packed npm package in a fresh project', () => {
  let project: string;
  let files: string[];

  beforeAll(() => {
    const tgz = tarball();
    project = mkdtempSync(join(tmpdir(), 'flock-consumer-'));
    const modules = join(project, 'node_modules');
    const pkg = join(modules, 'flock-ml');
    mkdirSync(pkg, { recursive: true });
    execFileSync('tar', ['-xzf', tgz, '-C', pkg, '--strip-components=1']);
    files = execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const dep of readdirSync(join(root, 'node_modules'))) {
      if (dep === '.bin' || dep.startsWith('.') || dep === 'flock-ml') continue;
      symlinkSync(join(root, 'node_modules', dep), join(modules, dep));
    }
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  }, 240_000);

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('ships built JavaScript and declarations, no tests and no TypeScript sources', () => {
    expect(files.some((f) => /\.test\.(ts|js)$/.test(f))).toBe(false);
    expect(files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false);
    expect(files).toContain('package/dist/lib/coordinator/index.js');
    expect(files).toContain('package/dist/lib/coordinator/index.d.ts');
    expect(files).toContain('package/dist/flock/flock.min.js');
  });

  it('runs in plain node: a coordinator on loopback, the shared protocol, and the flock bin', () => {
    writeFileSync(
      join(project, 'main.mjs'),
      `import { createCoordinator } from 'flock-ml/coordinator';
import { TaskPlanSchema } from 'flock-ml/shared/protocol';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const flock = await createCoordinator({ dataDir: mkdtempSync(join(tmpdir(), 'consumer-data-')), sweep: false, aggregationBackend: 'cpu', log: (await import('pino')).pino({ level: 'silent' }) });
const health = await (await flock.app.request('/healthz')).json();
await flock.close();
const plan = TaskPlanSchema.safeParse({ clientsPerRound: 'many' });
console.log(JSON.stringify({ status: health.status, planRefused: !plan.success }));
`,
    );
    const out = execFileSync(process.execPath, ['main.mjs'], { cwd: project, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ status: 'ok', planRefused: true });
    const help = execFileSync(process.execPath, [join(project, 'node_modules', 'flock-ml', 'bin', 'flock.js'), '--help'], { cwd: project, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(help).toMatch(/Usage: flock/);
    expect(help).toMatch(/serve/);
  }, 120_000);
});
