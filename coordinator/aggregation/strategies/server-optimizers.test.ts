import { beforeAll, describe, expect, it } from 'vitest';
import { STRATEGY_DEFAULTS } from '../../../shared/protocol/index.ts';
import { selectAggregationBackend } from '../backend.ts';
import { serverStrategy, type ServerOptimizerState } from './index.ts';

type Optimizer = 'fedavg' | 'fedavgm' | 'fedadam' | 'fedyogi' | 'fedadagrad';
interface Hyper {
  eta: number;
  mu: number;
  beta1: number;
  beta2: number;
  tau: number;
}

/** Independent float64 reference of Reddi et al. 2021, Algorithm 2 (plain arrays, no tfjs). */
function reference(name: Optimizer, x0: number[], deltas: number[][], h: Hyper): number[] {
  const { eta, mu, beta1, beta2, tau } = h;
  const x = [...x0];
  const m = x0.map(() => 0);
  const v = x0.map(() => tau * tau);
  const u = x0.map(() => 0);
  for (const d of deltas) {
    for (let i = 0; i < x.length; i++) {
      if (name === 'fedavg') {
        x[i] += eta * d[i];
        continue;
      }
      if (name === 'fedavgm') {
        u[i] = mu * u[i] + d[i];
        x[i] += eta * u[i];
        continue;
      }
      m[i] = beta1 * m[i] + (1 - beta1) * d[i];
      const d2 = d[i] * d[i];
      if (name === 'fedadagrad') v[i] = v[i] + d2;
      else if (name === 'fedyogi') v[i] = v[i] - (1 - beta2) * d2 * Math.sign(v[i] - d2);
      else v[i] = beta2 * v[i] + (1 - beta2) * d2;
      x[i] += (eta * m[i]) / (Math.sqrt(v[i]) + tau);
    }
  }
  return x;
}

/** The hyperparameters a plan naming only the strategy runs with: its descriptor's defaults (β1 0.9 fixed for fedadagrad). */
function defaultsOf(name: Optimizer): Hyper {
  const d: Record<string, number | undefined> = STRATEGY_DEFAULTS[name];
  return {
    eta: d.serverLearningRate!,
    mu: d.momentum ?? 0,
    beta1: d.beta1 ?? 0.9,
    beta2: d.beta2 ?? 0,
    tau: d.tau ?? 1,
  };
}

describe('server optimizers against a float64 reference', () => {
  beforeAll(async () => {
    await selectAggregationBackend();
  });

  const cases: Array<[Optimizer, Hyper]> = (['fedavg', 'fedavgm', 'fedadam', 'fedyogi', 'fedadagrad'] as const).map(
    (n) => [n, defaultsOf(n)],
  );
  // The defaults that run, checked against Flower's (and Hsu et al. for FedAvgM).
  it('run with the documented defaults', () => {
    expect(cases.map(([n, h]) => [n, h.eta, h.tau])).toEqual([
      ['fedavg', 1, 1],
      ['fedavgm', 1, 1],
      ['fedadam', 0.1, 1e-9],
      ['fedyogi', 0.01, 1e-3],
      ['fedadagrad', 0.1, 1e-9],
    ]);
  });

  // Every optimizer with nothing given (the defaults), and one with its options given.
  const runs: Array<[Optimizer, Hyper, Record<string, number>]> = [
    ...cases.map(([n, h]) => [n, h, {}] as [Optimizer, Hyper, Record<string, number>]),
    [
      'fedadam',
      { eta: 1e-2, mu: 0, beta1: 0.9, beta2: 0.999, tau: 1e-3 },
      { serverLearningRate: 1e-2, beta2: 0.999, tau: 1e-3 },
    ],
  ];
  for (const [name, hyper, given] of runs) {
    it(`${name} (η ${hyper.eta}, τ ${hyper.tau}) matches over 6 rounds with state round-tripped through JSON-like copies`, () => {
      const sizes = [12, 3];
      const x0 = sizes.map((n) => Array.from({ length: n }, () => Math.random() - 0.5));
      const rounds = Array.from({ length: 6 }, () =>
        sizes.map((n) => Array.from({ length: n }, () => (Math.random() - 0.5) * 0.2)),
      );
      let globals: Float32Array[] = x0.map((t) => Float32Array.from(t));
      let state: ServerOptimizerState | null = null;
      const strategy = serverStrategy({ name, ...given });
      for (const deltas of rounds) {
        const out = strategy.step({ globals, delta: deltas.map((t) => Float32Array.from(t)), state });
        globals = out.weights;
        // What the store would do: copy the slots out and back.
        state = {
          step: out.state.step,
          slots: Object.fromEntries(
            Object.entries(out.state.slots).map(([k, v]) => [k, v.map((t) => Float32Array.from(Array.from(t)))]),
          ),
        };
      }
      expect(state?.step).toBe(6);
      expect(Object.keys(state!.slots)).toEqual(strategy.descriptor.optimizerSlots);
      for (let t = 0; t < sizes.length; t++) {
        const expected = reference(
          name,
          x0[t],
          rounds.map((r) => r[t]),
          hyper,
        );
        for (let i = 0; i < expected.length; i++) expect(globals[t][i]).toBeCloseTo(expected[i], 4);
      }
      // The strategy must move the weights (guards against a no-op passing).
      expect(Math.abs(globals[0][0] - x0[0][0])).toBeGreaterThan(1e-4);
    });
  }

  it('refuses optimizer state that does not match the model, and bad options', () => {
    const globals = [new Float32Array(4)];
    const fedadam = serverStrategy({ name: 'fedadam' });
    const first = fedadam.step({ globals, delta: [new Float32Array(4).fill(0.1)], state: null });
    expect(() =>
      fedadam.step({ globals: [new Float32Array(5)], delta: [new Float32Array(5)], state: first.state }),
    ).toThrow(expect.objectContaining({ code: 'optimizer-state-mismatch' }));
    expect(() => serverStrategy({ name: 'fedavgm' }).step({ globals, delta: globals, state: first.state })).toThrow(
      expect.objectContaining({ code: 'optimizer-state-mismatch' }),
    );
    expect(() => serverStrategy({ name: 'fedadam', beta2: 1 })).toThrow(
      expect.objectContaining({ code: 'bad-option' }),
    );
    expect(() => serverStrategy({ name: 'fedavg', momentum: 0.9 })).toThrow(
      expect.objectContaining({ code: 'bad-option' }),
    );
    expect(() => serverStrategy({ name: 'krum' } as never)).toThrow(expect.objectContaining({ code: 'bad-option' }));
    expect(() =>
      serverStrategy({ name: 'fedavg' }).step({ globals, delta: [new Float32Array(3)], state: null }),
    ).toThrow(expect.objectContaining({ code: 'tensor-length-mismatch' }));
  });
});
