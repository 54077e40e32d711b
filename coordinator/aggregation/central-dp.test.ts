import { beforeAll, describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { selectAggregationBackend } from './backend.ts';
import { ADAPTIVE_CLIP_DEFAULTS, adaptiveClipNoise, nextClipNorm, noisedUnclippedFraction } from './central-dp.ts';
import { finalizeRound } from './finalize-round.ts';
import type { WeightSpec } from './weight-spec.ts';

const specs: WeightSpec[] = [
  { name: 'w', shape: [200, 250] },
  { name: 'b', shape: [50_000] },
];
const zeros = (): Float32Array[] => [new Float32Array(50_000), new Float32Array(50_000)];

function moments(tensors: Float32Array[]): { mean: number; std: number; n: number } {
  let n = 0,
    s = 0,
    s2 = 0;
  for (const t of tensors)
    for (const v of t) {
      n++;
      s += v;
      s2 += v * v;
    }
  const mean = s / n;
  return { mean, std: Math.sqrt(s2 / n - mean * mean), n };
}

describe('central DP (DP-FedAvg)', () => {
  beforeAll(async () => {
    await selectAggregationBackend();
  });

  it('adds noise of stddev noiseMultiplier * clipNorm / expectedClients and divides by the expected count', async () => {
    const clipNorm = 0.5,
      noiseMultiplier = 1.3,
      expectedClients = 10;
    const acc = createAccumulator(specs, { normBound: clipNorm });
    const c = 1e-4; // constant update of norm 1e-4 * sqrt(1e5) ≈ 0.03 < clipNorm: not rescaled
    for (let k = 0; k < 3; k++) acc.add([new Float32Array(50_000).fill(c), new Float32Array(50_000).fill(c)], 1);
    const result = await finalizeRound({
      strategy: { name: 'fedavg' },
      aggregate: { kind: 'mean', accumulator: acc },
      globals: zeros(),
      optimizerState: null,
      dp: { clipNorm, noiseMultiplier, expectedClients },
    });
    acc.dispose();
    const { mean, std, n } = moments(result.weights);
    const expectedStd = (noiseMultiplier * clipNorm) / expectedClients;
    // Sample std of n normals has relative standard error ~ 1/sqrt(2n) ≈ 0.22%; allow ~9 standard errors.
    expect(Math.abs(std / expectedStd - 1)).toBeLessThan(9 / Math.sqrt(2 * n));
    // Denominator is expectedClients (10), not the 3 that reported: mean 3c/10.
    expect(Math.abs(mean - (3 * c) / expectedClients)).toBeLessThan((6 * expectedStd) / Math.sqrt(n));
    expect(result.stats.noiseStddev).toBeCloseTo(noiseMultiplier * clipNorm, 10);
    expect(result.stats.clients).toBe(3);
  });

  it('refuses example-weighted, unbounded or robust aggregates under DP', async () => {
    const dp = { clipNorm: 1, noiseMultiplier: 1, expectedClients: 5 };
    const update = [new Float32Array(50_000), new Float32Array(50_000)];
    const weighted = createAccumulator(specs, { normBound: 1 });
    weighted.add(update, 7);
    await expect(
      finalizeRound({
        strategy: { name: 'fedavg' },
        aggregate: { kind: 'mean', accumulator: weighted },
        globals: zeros(),
        optimizerState: null,
        dp,
      }),
    ).rejects.toMatchObject({ code: 'dp-weighted-updates' });
    const unbounded = createAccumulator(specs);
    unbounded.add(update, 1);
    await expect(
      finalizeRound({
        strategy: { name: 'fedavg' },
        aggregate: { kind: 'mean', accumulator: unbounded },
        globals: zeros(),
        optimizerState: null,
        dp,
      }),
    ).rejects.toMatchObject({ code: 'dp-unbounded-accumulator' });
    const source = { count: 1, read: async () => update };
    await expect(
      finalizeRound({
        strategy: { name: 'median' },
        aggregate: { kind: 'updates', specs, source },
        globals: zeros(),
        optimizerState: null,
        dp,
      }),
    ).rejects.toMatchObject({
      code: 'dp-requires-mean',
      message: expect.stringMatching(/strategy "median" cannot take central DP: its sensitivity is not clipNorm/),
    });
    weighted.dispose();
    unbounded.dispose();
  });
});

describe('adaptive clipping (Andrew et al. 2021, TFF defaults)', () => {
  it('splits the noise as TFF does and refuses a too-small count stddev', () => {
    const { valueNoiseMultiplier, clippedCountStddev } = adaptiveClipNoise({
      noiseMultiplier: 1,
      expectedClients: 100,
    });
    expect(clippedCountStddev).toBe(5);
    // 1 / z_value^2 + 1 / (2 sigma_b)^2 must equal 1 / z^2.
    expect(valueNoiseMultiplier ** -2 + (2 * clippedCountStddev) ** -2).toBeCloseTo(1, 12);
    expect(() => adaptiveClipNoise({ noiseMultiplier: 1, expectedClients: 10 })).toThrow(
      expect.objectContaining({ code: 'bad-option' }),
    );
    expect(ADAPTIVE_CLIP_DEFAULTS).toMatchObject({
      initialClipNorm: 0.1,
      targetUnclippedQuantile: 0.5,
      learningRate: 0.2,
    });
  });

  it('moves the clip norm toward the target quantile of client update norms', () => {
    const expectedClients = 100;
    const { clippedCountStddev } = adaptiveClipNoise({ noiseMultiplier: 1, expectedClients });
    // Client norms: log-normal with median 1 (so the 0.5 quantile is 1).
    const sampleNorm = (): number =>
      Math.exp(0.5 * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random()));
    let clipNorm: number = ADAPTIVE_CLIP_DEFAULTS.initialClipNorm;
    const history: number[] = [];
    for (let round = 0; round < 80; round++) {
      const norms = Array.from({ length: expectedClients }, sampleNorm);
      const unclippedCount = norms.filter((n) => n <= clipNorm).length;
      const unclippedFraction = noisedUnclippedFraction({
        unclippedCount,
        reportedCount: norms.length,
        expectedClients,
        clippedCountStddev,
      });
      clipNorm = nextClipNorm({ clipNorm, unclippedFraction });
      history.push(clipNorm);
    }
    expect(history[5]).toBeGreaterThan(0.1); // all clipped at first: it grows
    const late = history.slice(-20);
    for (const c of late) {
      expect(c).toBeGreaterThan(0.6);
      expect(c).toBeLessThan(1.6);
    }
    // And shrinks when everyone is unclipped: exactly exp(-lr * (1 - 0.5)).
    expect(nextClipNorm({ clipNorm: 2, unclippedFraction: 1 })).toBeCloseTo(2 * Math.exp(-0.1), 12);
  });

  it("finalizeRound returns the next clip norm from the clients' bits", async () => {
    await selectAggregationBackend();
    const small: WeightSpec[] = [{ name: 'w', shape: [4] }];
    const acc = createAccumulator(small, { normBound: 0.1 });
    for (let k = 0; k < 100; k++) acc.add([new Float32Array([1, 1, 1, 1])], 1); // every update clipped
    const result = await finalizeRound({
      strategy: { name: 'fedavg' },
      aggregate: { kind: 'mean', accumulator: acc },
      globals: [new Float32Array(4)],
      optimizerState: null,
      dp: { clipNorm: 0.1, noiseMultiplier: 1, expectedClients: 100, adaptive: { unclippedCount: 0 } },
    });
    acc.dispose();
    expect(result.stats.boundedUpdates).toBe(100);
    expect(result.nextClipNorm).toBeGreaterThan(0.1);
    expect(result.nextClipNorm).toBeLessThanOrEqual(0.1 * Math.exp(0.1) + 1e-12);
    expect(result.stats.noiseStddev).toBeGreaterThan(0.1); // value multiplier > 1
  });
});
