/**
 * The README's "Operating a coordinator" section, run line by line: every
 * `npx flock ...` line of its shell blocks is read from README.md and run as
 * the real bin against a real `flock serve` started by the section's own
 * first line (fresh --data folder, its seed model, the admin key it prints).
 * Substitutions, and only these: the port (8787 -> a free one, FLOCK_URL
 * pointing at it), the ids the README writes as <task-id> / <id> (taken from
 * the commands' own output), `pause|resume|promote|abort` run one by one, and
 * the two `simulate` lines with fewer rounds (2 and 1) so the test takes
 * seconds, not minutes. A README line this test does not know fails it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeModelDirectory } from '../coordinator/registry/index.ts';
import { writeHoldout } from '../coordinator/registry/holdout.ts';
import { createMnistModel } from '../shared/model/index.ts';
import { loadMnist } from '../simulate/datasets/mnist.ts';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const section = readme.slice(
  readme.indexOf('## Operating a coordinator'),
  readme.indexOf('\n## ', readme.indexOf('## Operating a coordinator') + 5),
);

/** The section's `npx flock` lines, comments stripped. */
const readmeLines = [...section.matchAll(/```sh\n([\s\S]*?)```/g)]
  .flatMap((m) => m[1].split('\n'))
  .map((l) => l.replace(/\s+#.*$/, '').trim())
  .filter((l) => l.startsWith('npx flock '));
/** The plan of the section's JSON block, as `plan.json`. */
const planJson = /```json\n([\s\S]*?)```/.exec(section)![1];

let dir: string;
let base = '';
let adminKey = '';
let serve: ReturnType<typeof spawn> | undefined;
const ran: string[] = [];

function flock(line: string, timeoutMs = 120_000): { status: number | null; stdout: string; stderr: string } {
  const args = line.replace(/^npx flock /, '').split(/\s+/);
  const run = spawnSync(process.execPath, [join(root, 'bin', 'flock.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, FLOCK_ADMIN_KEY: adminKey, FLOCK_URL: base, FLOCK_LOG_LEVEL: 'warn' },
  });
  ran.push(line);
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function ok(line: string, timeoutMs?: number): string {
  const r = flock(line, timeoutMs);
  expect(r.status, `${line}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The README line that starts with `prefix` (one must). */
function line(prefix: string): string {
  const found = readmeLines.find((l) => l.startsWith(prefix));
  if (!found) throw new Error(`the README's operator section has no line starting "${prefix}"`);
  return found;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flock-readme-ops-'));
  const model = createMnistModel('mlp-small', { seed: 3 });
  await writeModelDirectory(model, join(dir, 'my-model'));
  model.dispose();
  const mnist = loadMnist({ split: 'test', limit: 300 });
  writeFileSync(join(dir, 'holdout.flt'), writeHoldout({ x: mnist.images, y: mnist.labels, inputShape: [784] }));
  writeFileSync(join(dir, 'plan.json'), planJson);

  const serveLine = line('npx flock serve');
  const args = serveLine
    .replace(/^npx flock /, '')
    .replace('--port 8787', '--port 0')
    .split(/\s+/);
  const env: NodeJS.ProcessEnv = { ...process.env, FLOCK_LOG_LEVEL: 'warn' };
  delete env.FLOCK_ADMIN_KEY;
  serve = spawn(process.execPath, [join(root, 'bin', 'flock.js'), ...args], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`flock serve did not seed in 180 s:\n${out}`)), 180_000);
    serve!.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      base ||= /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? '';
      adminKey ||= /flk_admin_[A-Za-z0-9_]+\.[A-Za-z0-9_-]{43}/.exec(out)?.[0] ?? '';
      if (/seed model published/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    serve!.on('exit', (code) => reject(new Error(`flock serve exited ${code}:\n${out}`)));
  });
  ran.push(serveLine);
}, 240_000);

afterAll(async () => {
  if (serve) {
    serve.kill('SIGTERM');
    await new Promise((done) => serve!.once('exit', done));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the README's operator section, line by line", () => {
  it('prints the admin key once, on a fresh --data folder', () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(adminKey).toMatch(/^flk_admin_/);
  });

  it('rollouts and experiments: start, list, pause, resume, abort, a shadow, promote, a bandit', () => {
    // Two candidates of digits beside the seed model (v1, production): v2 and v3.
    ok('npx flock model push ./my-model --app digits');
    ok('npx flock model push ./my-model --app digits');
    const started = ok(line('npx flock rollout start --app digits --candidate 2 --stages'));
    const id = /ro_[A-Za-z0-9_-]+/.exec(started)![0];
    expect(ok(line('npx flock rollout list'))).toContain(id);
    const actions = line('npx flock rollout pause|resume|promote|abort');
    for (const action of ['pause', 'resume', 'abort'])
      ok(actions.replace('pause|resume|promote|abort', action).replace('<id>', id));
    const shadowed = ok(line('npx flock rollout start --app digits --candidate 2 --shadow-version 3'));
    const shadowId = /ro_[A-Za-z0-9_-]+/.exec(shadowed)![0];
    expect(shadowId).not.toBe(id);
    ok(actions.replace('pause|resume|promote|abort', 'promote').replace('<id>', shadowId));
    expect(ok(line('npx flock bandit start'))).toMatch(/v2|v3/);
  }, 240_000);

  it('models, tasks and status', async () => {
    ok(line('npx flock model push ./my-model --app digits --holdout holdout.flt --stage production'));
    expect(ok(line('npx flock model list --app digits'))).toMatch(/production/);
    const created = ok(line('npx flock task create --app digits --model-version 1 --plan plan.json'));
    const taskId = /task_[A-Za-z0-9_-]+/.exec(created)![0];
    expect(ok(line('npx flock task rounds <task-id>').replace('<task-id>', taskId))).toMatch(
      new RegExp(`${taskId} has no rounds yet|round`),
    );
    expect(ok(line('npx flock status'))).toMatch(/digits/);
    // Not a README line: an action's --reason reaches the audit log.
    ok(`npx flock task pause ${taskId} --reason deploy-freeze`);
    const audit = await fetch(`${base}/v1/admin/audit?action=task.pause&target=${taskId}`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(await audit.text()).toContain('deploy-freeze');
  }, 120_000);

  it('simulates in process and against the running coordinator (fewer rounds)', () => {
    const local = ok(
      line('npx flock simulate --model 2nn --clients 100').replace('--rounds 100', '--rounds 2'),
      300_000,
    );
    expect(JSON.parse(local.trim().split('\n').at(-1)!)).toHaveProperty('finalAccuracy');
    const remote = line('npx flock simulate --url')
      .replace('http://127.0.0.1:8787', base)
      .replace('--rounds 20', '--rounds 1');
    ok(remote, 300_000);
    expect(readFileSync(join(dir, 'acc.svg'), 'utf8')).toMatch(/<svg/);
  }, 600_000);

  it('ran every flock line of the section', () => {
    expect(readmeLines.length).toBeGreaterThanOrEqual(13);
    const expanded = (l: string) =>
      l.includes('pause|resume|promote|abort')
        ? ['pause', 'resume', 'promote', 'abort'].map((a) => l.replace('pause|resume|promote|abort', a))
        : [l];
    const normalise = (l: string) =>
      l
        .replace('--port 8787', '')
        .replace(/--rounds \d+/, '')
        .replace(/http:\/\/127\.0\.0\.1:\d+/, 'URL')
        .replace(/<[a-z-]+>|\b(task|ro)_[A-Za-z0-9_-]+/g, 'ID')
        .replace(/--port 0/, '')
        .trim();
    const done = new Set(ran.map(normalise));
    const missing = readmeLines
      .flatMap(expanded)
      .map(normalise)
      .filter((l) => !done.has(l));
    expect(missing).toEqual([]);
  });
});
