/**
 * Server optimizer state (momentum / Adam moments) as a codec file, so it is
 * a blob like every other tensor payload and survives restarts.
 */
import { decodeTensors, encodeTensors, type NamedTensor } from '../../shared/codec/index.ts';
import type { ServerOptimizerState } from '../aggregation/index.ts';

export function encodeOptimizerState(state: ServerOptimizerState): Uint8Array {
  const tensors: NamedTensor[] = [{ name: 'step', shape: [1], data: Float32Array.of(state.step) }];
  for (const [slot, arrays] of Object.entries(state.slots)) {
    arrays.forEach((data, i) => tensors.push({ name: `${slot}#${i}`, shape: [data.length], data }));
  }
  return encodeTensors(tensors, { encoding: 'fp32' });
}

export function decodeOptimizerState(bytes: Uint8Array): ServerOptimizerState {
  const slots: Record<string, Float32Array[]> = {};
  let step = 0;
  for (const t of decodeTensors(bytes, { maxTensors: 100_000 })) {
    if (t.name === 'step') {
      step = t.data[0];
      continue;
    }
    const hash = t.name.lastIndexOf('#');
    const slot = t.name.slice(0, hash);
    const index = Number(t.name.slice(hash + 1));
    (slots[slot] ??= [])[index] = new Float32Array(t.data);
  }
  return { step, slots };
}
