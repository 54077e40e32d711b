/**
 * The distributed discrete Gaussian through a whole SecAgg+ round in memory
 * (real devices, real server, one device dropping after sharing keys): the
 * unmasked sum decodes to the survivors' float sum, within the rounding bound
 * without noise and within the calibrated noise with it.
 */
import { describe, expect, it } from 'vitest';
import { TaskPlanSchema } from '../protocol/plan.ts';
import { decodeDdgSum, encodeDdg, planDdg } from './ddg.ts';
import { ddgOptionsOfTask } from './ddg-task-plan.ts';
import { deviceIdAt, runInMemoryRound } from './in-memory-round.fixture.ts';

const d = 2000;
const roundId = 'round-ddg-secagg';
const ddgRound = { rotationSeed: new Uint8Array(32).fill(9), roundId };
const updates = Array.from({ length: 10 }, (_, k) =>
  Float32Array.from({ length: d }, (_, i) => Math.cos((i + 1) * (k + 0.3)) * 0.01),
);

function l2(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

async function roundSum(noiseMultiplier: number) {
  const task = TaskPlanSchema.parse({
    population: 100,
    clientsPerRound: 10,
    overSelection: 1,
    minReports: 8,
    secureAggregation: { bits: 20, noiseMultiplier },
  });
  const plan = planDdg(ddgOptionsOfTask(task, d));
  const inputs = await Promise.all(updates.map((u) => encodeDdg(u, plan, { ...ddgRound })));
  const dropped = deviceIdAt(3);
  const outcome = await runInMemoryRound({ roundId, inputs, drops: { 'masked-input': new Set([dropped]) } });
  if (!outcome.result) throw outcome.error;
  const decoded = await decodeDdgSum(outcome.result.sum, plan, ddgRound);
  const expected = new Float64Array(d);
  updates.forEach((u, k) => {
    if (k !== 3) for (let i = 0; i < d; i++) expected[i] += u[i];
  });
  return {
    plan,
    survivors: outcome.result.survivors.length,
    error: l2(decoded.map((v, i) => v - expected[i])),
    signal: l2(expected),
  };
}

describe('DDG through a SecAgg+ round', () => {
  it('without noise: the 9 survivors sum to their float sum within the rounding bound', async () => {
    const { plan, survivors, error, signal } = await roundSum(0);
    expect(survivors).toBe(9);
    expect(plan.maxDevices).toBe(10);
    expect(plan.minSurvivors).toBe(8);
    expect(error).toBeLessThanOrEqual(9 * plan.granularity * (plan.l2Sensitivity + plan.scaledClipNorm));
    expect(error).toBeLessThan(0.01 * signal);
  });

  it('with noise: the error is the noise of the 9 survivors, 9 x the calibrated per-device variance', async () => {
    const { plan, error } = await roundSum(1);
    const perCoordinate = error / Math.sqrt(d); // the noise is isotropic: d of its d' coordinates are kept
    const target = Math.sqrt(9 * plan.deviceNoiseVariance) * plan.granularity; // rounding adds < granularity / 2
    expect(Math.abs(perCoordinate - target) / target).toBeLessThan(0.05);
  });
});
