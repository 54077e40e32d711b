/**
 * The package as a stranger installs it (install-tarball.ts), in plain
 * `node`, no tsx: the coordinator entry starts and stops a coordinator on
 * loopback, the protocol entry validates a plan, the installed `flock` bin
 * prints its usage and plans a privacy budget, and the tarball holds
 * declarations but no tests. consumer-vite.test.ts builds a page with it.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installTarball } from './install-tarball.ts';

describe('the packed npm package in a fresh project', () => {
  let project: string;
  let files: string[];
  let bin: string;

  beforeAll(() => {
    ({ dir: project, files, bin } = installTarball('flock-consumer-'));
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
    const out = execFileSync(process.execPath, ['main.mjs'], {
      cwd: project,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ status: 'ok', planRefused: true });
    const help = execFileSync(process.execPath, [bin, '--help'], {
      cwd: project,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(help).toMatch(/Usage: flock/);
    expect(help).toMatch(/serve/);
    const planned = execFileSync(
      process.execPath,
      [
        bin,
        'privacy',
        'epsilon',
        '--sampling-rate',
        '1',
        '--noise-multiplier',
        '0.7',
        '--steps',
        '15',
        '--delta',
        '1e-5',
        '--json',
      ],
      { cwd: project, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect((JSON.parse(planned) as { epsilon: number }).epsilon).toBeCloseTo(40.3965, 3);
  }, 120_000);
});
