/**
 * `flock simulate --secure-aggregation` through the real CLI: an in-process
 * coordinator runs every round's SecAgg+ phases with simulated devices (the
 * SDK's round loop, real tfjs training, real MNIST); the per-phase counts,
 * aborts and epsilon come from the coordinator's round views.
 */
import { describe, expect, it } from 'vitest';
import type { SimulationResult } from '../simulate/run-simulation.ts';
import { main } from './index.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'flock', 'simulate', ...args], { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

// mlp-small (50,890 parameters), 8 clients of 150 examples, all selected every round.
const SMALL = [
  ...['--model', 'mlp-small', '--clients', '8', '--fraction', '1', '--train-examples', '1200'],
  ...['--eval-examples', '1000', '--workers', '0', '--lr', '0.1', '--batch', '10', '--json'],
];

describe('flock simulate --secure-aggregation refusals', () => {
  it.each([
    [['--clip-norm', '1', '--strategy', 'median'], /--strategy: strategy "median" cannot run with secureAggregation/],
    [
      ['--clip-norm', '1', '--encoding', 'int8'],
      /--encoding: updateEncoding "int8" does not apply under secureAggregation/,
    ],
    [
      ['--clip-norm', '1', '--noise-multiplier', '1'],
      /--noise-multiplier: central noise \(noiseMultiplier 1\) does not combine/,
    ],
    [['--clip-norm', '1', '--bits', '31'], /--bits: secureAggregation.bits 31 could overflow/],
    [['--clip-norm', '1', '--stragglers', '0.1'], /--stragglers: a device late for a phase has dropped out/],
    [[], /--clip-norm S is required/],
  ])('--secure-aggregation %j exits 2 naming the conflict, before anything runs', async (args, message) => {
    const { code, err, out } = await run(['--secure-aggregation', ...(args as string[])]);
    expect(code).toBe(2);
    expect(err).toMatch(/--secure-aggregation cannot run with these flags/);
    expect(err).toMatch(message as RegExp);
    expect(out).toBe('');
  });

  it('a secure-aggregation flag without --secure-aggregation exits 2', async () => {
    const { code, err } = await run(['--min-survivors', '4']);
    expect(code).toBe(2);
    expect(err).toMatch(/--min-survivors only apply with --secure-aggregation/);
  });
});

describe('flock simulate --secure-aggregation end to end', () => {
  it('8 devices, 2 rounds: every round unmasks with all 8 at every phase and the model learns', async () => {
    const { code, out, err } = await run([...SMALL, '--rounds', '2', '--secure-aggregation', '--clip-norm', '2']);
    expect(err).not.toMatch(/error/i);
    expect(code).toBe(0);
    const r = JSON.parse(out) as SimulationResult;
    for (const h of r.history.slice(1)) {
      expect(h.secureAggregation?.stats).toEqual({
        phase: 'done',
        selected: 8,
        advertised: 8,
        shared: 8,
        masked: 8,
        unmasked: 8,
        abortReason: null,
        epsilonSpent: null,
      });
      expect(h.secureAggregation?.closedEarly).toEqual([]); // nobody left: the coordinator closed every phase itself
      expect(h.reports).toBe(8);
      expect(h.bytesUploadedPerClient).toBe(65_536 * 4); // 50,890 values padded to 2^16 uint32 words
    }
    expect(r.secureAggregation).toMatchObject({
      roundsClosed: 2,
      roundsAborted: 0,
      plan: { bits: 20, minSurvivors: 8 },
    });
    expect(r.privacy).toBeNull(); // no device noise: nothing charged
    expect(r.finalAccuracy).toBeGreaterThan(r.initialAccuracy + 0.3);
  }, 180_000);

  it("--dropout 0.3 with device noise: leavers at each phase are survived, counts add up, epsilon is the coordinator's", async () => {
    const { code, out, err } = await run([
      ...SMALL,
      ...['--rounds', '2', '--seed', '1', '--dropout', '0.3', '--secure-aggregation', '--clip-norm', '2'],
      ...['--min-survivors', '4', '--distributed-noise-multiplier', '0.01'],
    ]);
    expect(err).not.toMatch(/error/i);
    expect(code).toBe(0);
    const r = JSON.parse(out) as SimulationResult;
    let left = 0;
    const charged: number[] = [];
    for (const h of r.history.slice(1)) {
      const s = h.secureAggregation!;
      const stats = s.stats!;
      left += h.dropped;
      expect(Object.values(s.droppedAt).reduce((a, b) => a + b, 0)).toBe(h.dropped);
      // Each phase lost exactly the devices made to leave there.
      expect(stats.selected).toBe(8);
      expect(stats.advertised).toBe(8 - s.droppedAt.advertise);
      expect(stats.shared).toBe(stats.advertised - s.droppedAt.share);
      expect(stats.masked).toBe(stats.shared - s.droppedAt.mask);
      expect(stats.phase).toBe('done');
      expect(stats.unmasked).toBe(stats.masked - s.droppedAt.unmask);
      expect(h.reports).toBe(stats.masked); // a survivor that left before unmasking is still in the sum
      expect(stats.epsilonSpent).toBeGreaterThan(0);
      charged.push(stats.epsilonSpent!);
      // Phases waiting only on leavers were closed by the driver, never one a device still had to send in.
      for (const phase of s.closedEarly) expect(s.droppedAt[phase]).toBeGreaterThan(0);
    }
    expect(left).toBeGreaterThan(0); // seed 1 draws leavers in these rounds
    expect(r.privacy?.delta).toBe(1e-5);
    // Two rounds composed: more than either alone, at most their sum.
    expect(r.privacy!.epsilon).toBeGreaterThan(Math.max(...charged));
    expect(r.privacy!.epsilon).toBeLessThanOrEqual(charged[0] + charged[1] + 1e-9);
    expect(r.finalAccuracy).toBeGreaterThan(r.initialAccuracy + 0.2);
  }, 180_000);
});
