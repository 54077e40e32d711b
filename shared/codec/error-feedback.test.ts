import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ErrorFeedback, applyErrorFeedback, updateResidual } from './error-feedback.ts';
import { decodeTensors } from './decode.ts';
import type { NamedTensor, TensorEncodingSpec } from './types.ts';

function update(seed: number[]): NamedTensor[] {
  return [
    {
      name: 'kernel',
      shape: [6, 5],
      data: Float32Array.from({ length: 30 }, (_, i) => seed[i % seed.length] * Math.cos(i)),
    },
    { name: 'bias', shape: [5], data: Float32Array.from({ length: 5 }, (_, i) => seed[(i + 3) % seed.length]) },
  ];
}

describe('error feedback', () => {
  it('sum of transmitted updates plus the final residual equals the sum of raw updates', () => {
    const specs: TensorEncodingSpec[] = [
      { encoding: 'topk', topkFraction: 0.1 },
      { encoding: 'topk', topkFraction: 0.2, topkValues: 'int8' },
      { encoding: 'int8' },
      { encoding: 'fp16' },
    ];
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 7 }), {
          minLength: 2,
          maxLength: 8,
        }),
        fc.constantFrom(...specs),
        (rounds, spec) => {
          const ef = new ErrorFeedback();
          const raw = new Map<string, Float64Array>();
          const sent = new Map<string, Float64Array>();
          for (const seed of rounds) {
            const u = update(seed);
            const transmitted = decodeTensors(ef.encode(u, spec));
            for (const t of u) {
              const acc = raw.get(t.name) ?? new Float64Array(t.data.length);
              t.data.forEach((x, i) => (acc[i] += x));
              raw.set(t.name, acc);
            }
            for (const t of transmitted) {
              const acc = sent.get(t.name) ?? new Float64Array(t.data.length);
              t.data.forEach((x, i) => (acc[i] += x));
              sent.set(t.name, acc);
            }
          }
          const residual = ef.residual();
          for (const [name, acc] of raw) {
            const r = residual.get(name) as Float32Array;
            acc.forEach((x, i) =>
              expect(Math.abs((sent.get(name) as Float64Array)[i] + r[i] - x)).toBeLessThan(1e-5 * rounds.length),
            );
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('carries dropped entries forward so they are sent in a later round', () => {
    const ef = new ErrorFeedback();
    const small: NamedTensor[] = [{ name: 'w', shape: [4], data: new Float32Array([1, 0.5, 0, 0]) }];
    const spec: TensorEncodingSpec = { encoding: 'topk', topkFraction: 0.25 };
    const first = decodeTensors(ef.encode(small, spec))[0].data;
    expect(Array.from(first)).toEqual([1, 0, 0, 0]);
    const zero: NamedTensor[] = [{ name: 'w', shape: [4], data: new Float32Array(4) }];
    const second = decodeTensors(ef.encode(zero, spec))[0].data;
    expect(Array.from(second)).toEqual([0, 0.5, 0, 0]);
    expect(Array.from(ef.residual().get('w') as Float32Array)).toEqual([0, 0, 0, 0]);
  });

  it('pure helpers compose to the same residual', () => {
    const u = update([0.3, -0.7]);
    const residual = new Map([['bias', new Float32Array([1, 1, 1, 1, 1])]]);
    const compensated = applyErrorFeedback(u, residual);
    expect(compensated[1].data[0]).toBeCloseTo(u[1].data[0] + 1, 6);
    expect(compensated[0].data).toEqual(u[0].data);
    const next = updateResidual(
      compensated,
      compensated.map((t) => ({ ...t, data: new Float32Array(t.data.length) })),
    );
    expect(next.get('bias')).toEqual(compensated[1].data);
  });
});
