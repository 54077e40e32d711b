import { beforeAll, describe, expect, it } from 'vitest';
import { selectAggregationBackend } from './backend.ts';
import { applyStrategy, type ServerOptimizerState, type StrategyConfig, type StrategyName } from './strategies.ts';

/** Independent float64 reference of Reddi et al. 2021, Algorithm 2 (plain arrays, no tfjs). */
function reference(name: StrategyName, x0: number[], deltas: number[][], eta: number): number[] {
  const beta1 = 0.9, beta2 = 0.99, tau = 1e-3, mu = 0.9;
  const x = [...x0];
  const m = x0.map(() => 0);
  const v = x0.map(() => tau * tau);
  const u = x0.map(() => 0);
  for (const d of deltas) {
    for (let i = 0; i < x.length; i++) {
      if (name === 'fedavg') { x[i] += eta * d[i]; continue; }
      if (name === 'fedavgm') { u[i] = mu * u[i] + d[i]; x[i] += eta * u[i]; continue; }
      m[i] = beta1 * m[i] + (1 - beta1) * d[i];
      const d2 = d[i] * d[i];
      if (name === 'fedadagrad') v[i] = v[i] + d2;
      else if (name === 'fedyogi') v[i] = v[i] - (1 - beta2) * d2 * Math.sign(v[i] - d2);
      else v[i] = beta2 * v[i] + (1 - beta2) * d2;
      x[i] += eta * m[i] / (Math.sqrt(v[i]) + tau);
    }
  }
  return x;
}

describe('server optimizers against a float64 reference', () => {
  beforeAll(async () => {
    await selectAggregationBackend();
  });

  const cases: Array<[StrategyName, number]> = [['fedavg', 1], ['fedavgm', 1], ['fedadam', 1e-2], ['fedyogi', 1e-2], ['fedadagrad', 1e-1]];
  for (const [name, eta] of cases) {
    it(`${name} matches over 6 rounds with state round-tripped through JSON-like copies`, () => {
      const sizes = [12, 3];
      const x0 = sizes.map((n) => Array.from({ length: n }, () => Math.random() - 0.5));
      const rounds = Array.from({ length: 6 }, () => sizes.map((n) => Array.from({ length: n }, () => (Math.random() - 0.5) * 0.2)));
      let globals: Float32Array[] = x0.map((t) => Float32Array.from(t));
      let state: ServerOptimizerState | null = null;
      const strategy: StrategyConfig = { name }; // defaults must be the paper's
      for (const deltas of rounds) {
        const out = applyStrategy({ strategy, globals, meanDelta: deltas.map((t) => Float32Array.from(t)), state });
        globals = out.weights;
        // What the store would do: copy the slots out and back.
        state = { step: out.state.step, slots: Object.fromEntries(Object.entries(out.state.slots).map(([k, v]) => [k, v.map((t) => Float32Array.from(Array.from(t)))])) };
      }
      expect(state?.step).toBe(6);
      for (let t = 0; t < sizes.length; t++) {
        const expected = reference(name, x0[t], rounds.map((r) => r[t]), eta);
        for (let i = 0; i < expected.length; i++) expect(globals[t][i]).toBeCloseTo(expected[i], 4);
      }
      // The strategy must move the weights (guards against a no-op passing).
      expect(Math.abs(globals[0][0] - x0[0][0])).toBeGreaterThan(1e-4);
    });
  }

  it('refuses optimizer state that does not match the model', () => {
    const globals = [new Float32Array(4)];
    const first = applyStrategy({ strategy: { name: 'fedadam' }, globals, meanDelta: [new Float32Array(4).fill(0.1)], state: null });
    expect(() => applyStrategy({ strategy: { name: 'fedadam' }, globals: [new Float32Array(5)], meanDelta: [new Float32Array(5)], state: first.state })).toThrow(
      expect.objectContaining({ code: 'optimizer-state-mismatch' }),
    );
    expect(() => applyStrategy({ strategy: { name: 'fedavgm' }, globals, meanDelta: globals, state: first.state })).toThrow(expect.objectContaining({ code: 'optimizer-state-mismatch' }));
    expect(() => applyStrategy({ strategy: { name: 'fedadam', beta2: 1 }, globals, meanDelta: globals, state: null })).toThrow(expect.objectContaining({ code: 'bad-option' }));
    expect(() => applyStrategy({ strategy: { name: 'fedavg' }, globals, meanDelta: [new Float32Array(3)], state: null })).toThrow(expect.objectContaining({ code: 'tensor-length-mismatch' }));
  });
});
