import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from './index.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'flock', 'simulate', ...args], { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('flock simulate flags', () => {
  it.each([
    [['--model', 'resnet'], /--model must be one of 2nn, cnn, mlp-small, got "resnet"/],
    [['--fraction', '0'], /--fraction must be in \(0, 1\], got "0"/],
    [['--fraction', '1.5'], /--fraction must be in \(0, 1\]/],
    [['--clients', 'ten'], /--clients must be a number, got "ten"/],
    [['--partition', 'zipf'], /--partition must be one of iid, pathological, dirichlet/],
    [['--encoding', 'int4'], /--encoding must be one of fp32, fp16, int8, topk/],
    [['--strategy', 'fedprox'], /--strategy must be one of fedavg/],
    [['--dataset', 'cifar10'], /--dataset must be one of mnist/],
    [['--eval-examples', '20000'], /--eval-examples must be at most 10000/],
    [['--noise-multiplier', '1'], /--noise-multiplier needs --clip-norm/],
    [['--plot', 'out.png'], /--plot writes SVG/],
  ])('%j exits 2 with a clear message', async (args, message) => {
    const { code, err, out } = await run(args as string[]);
    expect(code).toBe(2);
    expect(err).toMatch(message as RegExp);
    expect(out).toBe('');
  });

  it('an unknown flag exits 2', async () => {
    const { code, err } = await run(['--rouns', '3']);
    expect(code).toBe(2);
    expect(err).toMatch(/unknown option '--rouns'/);
  });
});

describe('flock simulate end to end', () => {
  it('trains 4 IID clients for 2 rounds: accuracy rises, JSON has roundsToTarget and finalAccuracy, the plot is written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flock-sim-test-'));
    try {
      const plot = join(dir, 'acc.svg');
      const { code, out, err } = await run([
        '--model', 'mlp-small', '--clients', '4', '--fraction', '1', '--rounds', '2', '--partition', 'iid', '--epochs', '1', '--batch', '10', '--lr', '0.1',
        '--train-examples', '2000', '--eval-examples', '1000', '--workers', '0', '--target', '0.5', '--plot', plot, '--json',
      ]);
      expect(err).not.toMatch(/error/);
      expect(code).toBe(0);
      const result = JSON.parse(out) as { history: { round: number; accuracy: number; reports: number; bytesUploadedPerClient: number }[]; roundsToTarget: number | null; finalAccuracy: number; initialAccuracy: number };
      expect(result.history.map((h) => h.round)).toEqual([0, 1, 2]);
      expect(result.history.slice(1).every((h) => h.reports === 4)).toBe(true);
      // fp32 update of 50,890 params: at least 4 bytes each.
      expect(result.history[1].bytesUploadedPerClient).toBeGreaterThan(50_890 * 4);
      expect(result.finalAccuracy).toBeGreaterThan(result.initialAccuracy + 0.3);
      expect(result.history[2].accuracy).toBe(result.finalAccuracy);
      expect(result).toHaveProperty('roundsToTarget');
      expect(result.roundsToTarget).toBeGreaterThan(0);
      expect(result.roundsToTarget).toBeLessThanOrEqual(2);
      expect(await readFile(plot, 'utf8')).toMatch(/^<svg/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
