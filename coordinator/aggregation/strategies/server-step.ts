/**
 * The loop every server step shares: check Δ against the globals, take the
 * optimizer slots from the previous state (or start them), apply the
 * strategy's tensor update per weight tensor inside tf.tidy, and return the
 * weights with the next state. The strategy files only say the update.
 */
import * as tf from '@tensorflow/tfjs';
import { AggregationError } from '../errors.ts';
import type { ServerOptimizerState, ServerStepInput, ServerStepResult } from './server-strategy.ts';

/** One tensor's update: the new weights and each slot's next value, by slot name. */
export type TensorUpdate = (
  x: tf.Tensor1D,
  delta: tf.Tensor1D,
  slots: Record<string, tf.Tensor1D>,
) => { weights: tf.Tensor; slots?: Record<string, tf.Tensor> };

export interface StepRule {
  /** The slots this strategy keeps (its descriptor's `optimizerSlots`). */
  slots: readonly string[];
  /** A slot's value before the first round; 0 when absent. */
  initialSlotValue?: (slot: string) => number;
  update: TensorUpdate;
}

function slotsFor(rule: StepRule, state: ServerOptimizerState | null, sizes: number[]): Record<string, Float32Array[]> {
  if (!state || state.step === 0) {
    return Object.fromEntries(
      rule.slots.map((n) => [n, sizes.map((s) => new Float32Array(s).fill(rule.initialSlotValue?.(n) ?? 0))]),
    );
  }
  for (const n of rule.slots) {
    const slot = state.slots[n];
    if (
      !slot ||
      slot.length !== sizes.length ||
      slot.some((t, i) => !(t instanceof Float32Array) || t.length !== sizes[i])
    ) {
      throw new AggregationError(
        'optimizer-state-mismatch',
        `optimizer state slot "${n}" is missing or does not match the model; was the strategy or model changed mid-task?`,
        { slot: n },
      );
    }
  }
  return state.slots;
}

const read = (t: tf.Tensor): Float32Array => Float32Array.from(t.dataSync() as Float32Array);

/**
 * @example
 * serverStep(input, { slots: [], update: (x, delta) => ({ weights: tf.add(x, delta) }) });
 */
export function serverStep(input: ServerStepInput, rule: StepRule): ServerStepResult {
  const { globals, delta } = input;
  if (globals.length !== delta.length || globals.some((g, i) => g.length !== delta[i].length)) {
    throw new AggregationError(
      'tensor-length-mismatch',
      'globals and the round delta do not have the same tensors and lengths',
    );
  }
  const slots = slotsFor(
    rule,
    input.state,
    globals.map((g) => g.length),
  );
  const weights: Float32Array[] = [];
  const next: Record<string, Float32Array[]> = Object.fromEntries(rule.slots.map((n) => [n, [] as Float32Array[]]));
  for (let i = 0; i < globals.length; i++) {
    tf.tidy(() => {
      const slotTensors = Object.fromEntries(rule.slots.map((n) => [n, tf.tensor1d(slots[n][i])]));
      const out = rule.update(tf.tensor1d(globals[i]), tf.tensor1d(delta[i]), slotTensors);
      for (const n of rule.slots) next[n].push(read(out.slots![n]));
      weights.push(read(out.weights));
    });
  }
  return { weights, state: { step: (input.state?.step ?? 0) + 1, slots: next } };
}

/** x ← x + η Δ: FedAvg's step, and the plain step of strategies whose work is in Δ (η = 1). */
export function plainStep(input: ServerStepInput, eta: number): ServerStepResult {
  return serverStep(input, { slots: [], update: (x, delta) => ({ weights: tf.add(x, tf.mul(delta, eta)) }) });
}
