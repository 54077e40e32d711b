/**
 * Error feedback for lossy update compression (client side).
 *
 * What int8 rounding or top-k dropping removes from one round's update is not
 * lost: it is kept as a residual and added to the next update, so over many
 * rounds the server receives the full signal (Seide et al. 2014; Karimireddy
 * et al. 2019, "Error Feedback Fixes SignSGD"). Invariant, per tensor name:
 *
 *   sum(transmitted updates) + residual == sum(raw updates)
 */
import { decodeTensors } from './decode.ts';
import { encodeTensors } from './encode.ts';
import { CodecError } from './codec-error.ts';
import type { NamedTensor, TensorEncodingSpec } from './types.ts';

function sameShape(a: NamedTensor, b: NamedTensor): boolean {
  return (
    a.data.length === b.data.length && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i])
  );
}

/**
 * update + residual, per tensor name (a tensor with no residual is passed on as a copy).
 *
 * @example
 * const compensated = applyErrorFeedback(update, residual);
 */
export function applyErrorFeedback(update: NamedTensor[], residual: ReadonlyMap<string, Float32Array>): NamedTensor[] {
  return update.map((t) => {
    const r = residual.get(t.name);
    const data = Float32Array.from(t.data);
    if (r) {
      if (r.length !== data.length) {
        throw new CodecError(
          'bad_input',
          `residual for "${t.name}" has ${r.length} elements, the update ${data.length}; call reset() when the model changes`,
          { tensor: t.name },
        );
      }
      for (let i = 0; i < data.length; i++) data[i] += r[i];
    }
    return { name: t.name, shape: t.shape.slice(), data };
  });
}

/**
 * The new residual: compensated - transmitted, per tensor name.
 *
 * @example
 * const residual = updateResidual(compensated, decodeTensors(bytes));
 */
export function updateResidual(compensated: NamedTensor[], transmitted: NamedTensor[]): Map<string, Float32Array> {
  const sent = new Map(transmitted.map((t) => [t.name, t] as const));
  const out = new Map<string, Float32Array>();
  for (const c of compensated) {
    const s = sent.get(c.name);
    if (!s || !sameShape(c, s))
      throw new CodecError('bad_input', `transmitted tensors lack "${c.name}" or differ in shape`, { tensor: c.name });
    const r = new Float32Array(c.data.length);
    for (let i = 0; i < r.length; i++) r[i] = c.data[i] - s.data[i];
    out.set(c.name, r);
  }
  return out;
}

/**
 * Keeps the residual between rounds and encodes each update with it folded in.
 *
 * @example
 * const ef = new ErrorFeedback();
 * const bytes = ef.encode(delta, { encoding: 'topk', topkFraction: 0.01, topkValues: 'int8' });
 * await upload(bytes);
 */
export class ErrorFeedback {
  #residual = new Map<string, Float32Array>();

  /** Encodes update + residual and keeps what the encoding lost for next time. */
  encode(update: NamedTensor[], spec: TensorEncodingSpec | ((t: NamedTensor) => TensorEncodingSpec)): Uint8Array {
    const compensated = applyErrorFeedback(update, this.#residual);
    const bytes = encodeTensors(compensated, spec);
    // Decode what was really sent, so the residual matches the wire exactly.
    const sent = decodeTensors(bytes, {
      maxTensors: Infinity,
      maxElementsPerTensor: Infinity,
      maxTotalElements: Infinity,
      maxNameBytes: Infinity,
      maxRank: Infinity,
      allowNonFinite: true,
    });
    this.#residual = updateResidual(compensated, sent);
    return bytes;
  }

  /** The residual carried into the next round (a copy). */
  residual(): Map<string, Float32Array> {
    return new Map([...this.#residual].map(([k, v]) => [k, v.slice()]));
  }

  /** Drops the residual, e.g. when the global model or the task changes. */
  reset(): void {
    this.#residual.clear();
  }
}
