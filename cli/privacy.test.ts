import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { computeEpsilon } from '../shared/dp/index.ts';
import { main, type CliIo } from './index.ts';

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (t: string) => {
      io.stdout += t;
    },
    err: (t: string) => {
      io.stderr += t;
    },
  };
  return io;
}

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = capture();
  const code = await main(['node', 'flock', 'privacy', ...args], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const EPSILON_ARGS = ['--sampling-rate', '0.0025', '--noise-multiplier', '1.3', '--steps', '6000', '--delta', '1e-5'];

describe('flock privacy epsilon', () => {
  it('prints JSON matching the accountant, and the TF Privacy Test0 figure with its orders (0.7242 at 19 there)', async () => {
    const { code, stdout } = await run('epsilon', ...EPSILON_ARGS, '--json');
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as Record<string, number>;
    const expected = computeEpsilon({ samplingRate: 0.0025, noiseMultiplier: 1.3, steps: 6000, delta: 1e-5 });
    expect(out).toEqual({ ...expected, samplingRate: 0.0025, noiseMultiplier: 1.3, steps: 6000, delta: 1e-5 });
    // Default orders include fractional ones down to 1.1, so epsilon can only be at or below TF Privacy's.
    expect(out.epsilon).toBeLessThanOrEqual(0.7242234026109595 * (1 + 1e-9));
    expect(out.epsilon).toBeGreaterThan(0.6);
  });

  it('prints a human line with epsilon and the best order', async () => {
    const { code, stdout } = await run('epsilon', ...EPSILON_ARGS);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^epsilon = 0\.\d+ at delta = 0\.00001 \(best RDP order [\d.]+;/);
  });

  it.each([
    [['--sampling-rate', '1.5'], /--sampling-rate: must be in \(0, 1\]/],
    [['--sampling-rate', '0'], /--sampling-rate: must be in \(0, 1\]/],
    [['--noise-multiplier', '-1'], /--noise-multiplier: must be >= 0/],
    [['--delta', '1'], /--delta: must be in \(0, 1\)/],
    [['--steps', '2.5'], /--steps must be an integer/],
    [['--noise-multiplier', 'abc'], /--noise-multiplier must be a number/],
  ])('exits 2 with a clear message for %j', async (override, message) => {
    const args = [...EPSILON_ARGS];
    args[args.indexOf(override[0]) + 1] = override[1];
    const { code, stdout, stderr } = await run('epsilon', ...args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });

  it('exits 2 when a required flag is missing', async () => {
    const { code, stderr } = await run('epsilon', '--sampling-rate', '0.01', '--steps', '10', '--delta', '1e-5');
    expect(code).toBe(2);
    expect(stderr).toMatch(/--noise-multiplier/);
  });
});

describe('flock privacy noise', () => {
  it('prints the calibrated noise multiplier, which meets the target', async () => {
    const { code, stdout } = await run(
      'noise',
      '--sampling-rate',
      '0.01',
      '--steps',
      '1000',
      '--delta',
      '1e-5',
      '--epsilon',
      '2',
      '--json',
    );
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as { noiseMultiplier: number; epsilon: number };
    const check = computeEpsilon({
      samplingRate: 0.01,
      noiseMultiplier: out.noiseMultiplier,
      steps: 1000,
      delta: 1e-5,
    });
    expect(check.epsilon).toBeLessThanOrEqual(2);
    expect(out.epsilon).toBe(check.epsilon);
    const tooLittle = computeEpsilon({
      samplingRate: 0.01,
      noiseMultiplier: out.noiseMultiplier * (1 - 1e-4),
      steps: 1000,
      delta: 1e-5,
    });
    expect(tooLittle.epsilon).toBeGreaterThan(2);
  });

  it('exits 2 for a non-positive target epsilon', async () => {
    const { code, stderr } = await run(
      'noise',
      '--sampling-rate',
      '0.01',
      '--steps',
      '10',
      '--delta',
      '1e-5',
      '--epsilon',
      '0',
    );
    expect(code).toBe(2);
    expect(stderr).toMatch(/--epsilon: must be > 0/);
  });
});

describe('the real bin', () => {
  it('node bin/flock.js privacy epsilon prints JSON and exits 0; a bad q exits 2', async () => {
    const bin = fileURLToPath(new URL('../bin/flock.js', import.meta.url));
    const exec = promisify(execFile);
    const { stdout } = await exec(process.execPath, [bin, 'privacy', 'epsilon', ...EPSILON_ARGS, '--json']);
    expect((JSON.parse(stdout) as { epsilon: number }).epsilon).toBeGreaterThan(0);
    const failure = await exec(process.execPath, [
      bin,
      'privacy',
      'epsilon',
      ...EPSILON_ARGS.slice(2),
      '--sampling-rate',
      '2',
    ]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure.code).toBe(2);
    expect(failure.stderr).toMatch(/--sampling-rate/);
  });
});
