/**
 * Server optimizers of Reddi et al. 2021, "Adaptive Federated Optimization"
 * (Algorithm 2), in the paper's notation: the round's pseudo-gradient Δ is the
 * aggregated client delta, m and v are the first and second moment slots.
 *
 *   FedAvg      x ← x + η Δ
 *   FedAvgM     u ← μ u + Δ;                x ← x + η u     (Hsu et al. 2019)
 *   FedAdagrad  m ← β1 m + (1−β1) Δ;  v ← v + Δ²
 *   FedYogi     m as above;  v ← v − (1−β2) Δ² sign(v − Δ²)
 *   FedAdam     m as above;  v ← β2 v + (1−β2) Δ²
 *   (adaptive)  x ← x + η m / (√v + τ)
 *
 * As in the paper there is no bias correction and v starts at τ² (the paper
 * asks v₋₁ ≥ τ²). The state is plain data the round logic persists between rounds.
 */
import * as tf from '@tensorflow/tfjs';
import { AggregationError } from './errors.ts';

export type StrategyName = 'fedavg' | 'fedavgm' | 'fedadam' | 'fedyogi' | 'fedadagrad';

export interface StrategyConfig {
  name: StrategyName;
  /** η. Defaults: 1 for fedavg/fedavgm, 1e-2 for fedadam/fedyogi, 1e-1 for fedadagrad (tune it; the paper grid-searches η). */
  serverLearningRate?: number;
  /** μ of FedAvgM, default 0.9. */
  momentum?: number;
  /** Default 0.9 (Reddi et al. fix β1 = 0.9). */
  beta1?: number;
  /** Default 0.99 (Reddi et al. fix β2 = 0.99). */
  beta2?: number;
  /** Adaptivity τ, default 1e-3. */
  tau?: number;
}

/** Serializable optimizer state: store it with the task and pass it back next round. */
export interface ServerOptimizerState {
  step: number;
  slots: Record<string, Float32Array[]>;
}

export const STRATEGY_DEFAULTS = { momentum: 0.9, beta1: 0.9, beta2: 0.99, tau: 1e-3 } as const;

const DEFAULT_LR: Record<StrategyName, number> = { fedavg: 1, fedavgm: 1, fedadam: 1e-2, fedyogi: 1e-2, fedadagrad: 1e-1 };
const SLOTS: Record<StrategyName, string[]> = { fedavg: [], fedavgm: ['momentum'], fedadam: ['m', 'v'], fedyogi: ['m', 'v'], fedadagrad: ['m', 'v'] };

/** The state before the first round. */
export function initialOptimizerState(): ServerOptimizerState {
  return { step: 0, slots: {} };
}

export interface ApplyStrategyInput {
  strategy: StrategyConfig;
  globals: readonly Float32Array[];
  /** Δ: the aggregated delta of the round (mean, median, DP mean...). */
  meanDelta: readonly Float32Array[];
  state: ServerOptimizerState | null;
}

function checkHyper(name: string, value: number, min: number, maxExclusive: number): number {
  if (!(Number.isFinite(value) && value >= min && value < maxExclusive)) {
    throw new AggregationError('bad-option', `${name} must be in [${min}, ${maxExclusive}), got ${value}`);
  }
  return value;
}

function slotsFor(strategy: StrategyName, state: ServerOptimizerState | null, sizes: number[], tau: number): Record<string, Float32Array[]> {
  const names = SLOTS[strategy];
  if (!state || state.step === 0) {
    return Object.fromEntries(names.map((n) => [n, sizes.map((s) => new Float32Array(s).fill(n === 'v' ? tau * tau : 0))]));
  }
  for (const n of names) {
    const slot = state.slots[n];
    if (!slot || slot.length !== sizes.length || slot.some((t, i) => !(t instanceof Float32Array) || t.length !== sizes[i])) {
      throw new AggregationError('optimizer-state-mismatch', `optimizer state slot "${n}" is missing or does not match the model; was the strategy or model changed mid-task?`, { slot: n });
    }
  }
  return state.slots;
}

/**
 * One server step: new global weights and the next optimizer state. Inputs are not mutated.
 *
 * @example
 * const { weights, state } = applyStrategy({ strategy: { name: 'fedadam' }, globals, meanDelta, state: saved });
 */
export function applyStrategy(input: ApplyStrategyInput): { weights: Float32Array[]; state: ServerOptimizerState } {
  const { strategy, globals, meanDelta } = input;
  if (!(strategy.name in SLOTS)) throw new AggregationError('bad-option', `unknown strategy "${strategy.name}"; use one of ${Object.keys(SLOTS).join(', ')}`);
  if (globals.length !== meanDelta.length || globals.some((g, i) => g.length !== meanDelta[i].length)) {
    throw new AggregationError('tensor-length-mismatch', 'globals and meanDelta do not have the same tensors and lengths');
  }
  const eta = strategy.serverLearningRate ?? DEFAULT_LR[strategy.name];
  if (!(Number.isFinite(eta) && eta > 0)) throw new AggregationError('bad-option', `serverLearningRate must be positive, got ${eta}`);
  const mu = checkHyper('momentum', strategy.momentum ?? STRATEGY_DEFAULTS.momentum, 0, 1);
  const beta1 = checkHyper('beta1', strategy.beta1 ?? STRATEGY_DEFAULTS.beta1, 0, 1);
  const beta2 = checkHyper('beta2', strategy.beta2 ?? STRATEGY_DEFAULTS.beta2, 0, 1);
  const tau = strategy.tau ?? STRATEGY_DEFAULTS.tau;
  if (!(Number.isFinite(tau) && tau > 0)) throw new AggregationError('bad-option', `tau must be positive, got ${tau}`);

  const sizes = globals.map((g) => g.length);
  const slots = slotsFor(strategy.name, input.state, sizes, tau);
  const weights: Float32Array[] = [];
  const next: Record<string, Float32Array[]> = Object.fromEntries(SLOTS[strategy.name].map((n) => [n, [] as Float32Array[]]));
  const read = (t: tf.Tensor): Float32Array => Float32Array.from(t.dataSync() as Float32Array);

  for (let i = 0; i < globals.length; i++) {
    tf.tidy(() => {
      const x = tf.tensor1d(globals[i]);
      const delta = tf.tensor1d(meanDelta[i]);
      if (strategy.name === 'fedavg') {
        weights.push(read(tf.add(x, tf.mul(delta, eta))));
      } else if (strategy.name === 'fedavgm') {
        const u = tf.add(tf.mul(tf.tensor1d(slots.momentum[i]), mu), delta);
        next.momentum.push(read(u));
        weights.push(read(tf.add(x, tf.mul(u, eta))));
      } else {
        const m = tf.add(tf.mul(tf.tensor1d(slots.m[i]), beta1), tf.mul(delta, 1 - beta1));
        const vPrev = tf.tensor1d(slots.v[i]);
        const d2 = tf.square(delta);
        const v =
          strategy.name === 'fedadagrad' ? tf.add(vPrev, d2)
          : strategy.name === 'fedyogi' ? tf.sub(vPrev, tf.mul(tf.mul(d2, tf.sign(tf.sub(vPrev, d2))), 1 - beta2))
          : tf.add(tf.mul(vPrev, beta2), tf.mul(d2, 1 - beta2));
        next.m.push(read(m));
        next.v.push(read(v));
        weights.push(read(tf.add(x, tf.mul(tf.div(m, tf.add(tf.sqrt(v), tau)), eta))));
      }
    });
  }
  return { weights, state: { step: (input.state?.step ?? 0) + 1, slots: next } };
}
