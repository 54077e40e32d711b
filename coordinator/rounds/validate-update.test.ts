/** Update validation: every rejection code, and what a valid update yields. */
import { describe, expect, it } from 'vitest';
import { encodeTensors, type NamedTensor } from '../../shared/codec/index.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import { ApiError } from '../http/api-error.ts';
import { maxUpdateBytes, validateUpdate } from './validate-update.ts';

const specs: WeightSpec[] = [
  { name: 'dense/kernel', shape: [4, 3] },
  { name: 'dense/bias', shape: [3] },
];
const fp32 = { clipNorm: 1, encoding: { encoding: 'fp32' as const } };

function tensors(scale: number): NamedTensor[] {
  return specs.map((s, t) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    return {
      name: s.name,
      shape: [...s.shape],
      data: Float32Array.from({ length: n }, (_, i) => scale * (((i + t) % 5) - 2)),
    };
  });
}
const norm = (ts: NamedTensor[]) => Math.sqrt(ts.reduce((s, t) => s + t.data.reduce((a, v) => a + v * v, 0), 0));

function rejection(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected the update to be rejected');
}

describe('validateUpdate', () => {
  it('accepts a valid update and returns the deltas in model order with their norm', () => {
    const ts = tensors(0.05);
    const bytes = encodeTensors([...ts].reverse(), { encoding: 'fp32' });
    const { deltas, norm: n } = validateUpdate(bytes, specs, fp32);
    expect(deltas.map((d) => Array.from(d))).toEqual(ts.map((t) => Array.from(t.data)));
    expect(n).toBeCloseTo(norm(ts), 5);
  });

  it('rejects a missing tensor with shape_mismatch', () => {
    const e = rejection(() =>
      validateUpdate(encodeTensors(tensors(0.05).slice(0, 1), { encoding: 'fp32' }), specs, fp32),
    );
    expect(e.code).toBe('shape_mismatch');
    expect(e.status).toBe(422);
    expect(e.details).toMatchObject({ missing: 'dense/bias' });
  });

  it('rejects an extra tensor with shape_mismatch', () => {
    const extra = [...tensors(0.05), { name: 'other/bias', shape: [3], data: new Float32Array(3) }];
    expect(rejection(() => validateUpdate(encodeTensors(extra, { encoding: 'fp32' }), specs, fp32)).code).toBe(
      'shape_mismatch',
    );
  });

  it('rejects a renamed tensor with shape_mismatch', () => {
    const ts = tensors(0.05);
    ts[1] = { ...ts[1], name: 'dense/bias_1' };
    expect(rejection(() => validateUpdate(encodeTensors(ts, { encoding: 'fp32' }), specs, fp32)).code).toBe(
      'shape_mismatch',
    );
  });

  it('rejects a wrong shape (same element count) with shape_mismatch', () => {
    const ts = tensors(0.05);
    ts[0] = { ...ts[0], shape: [3, 4] };
    const e = rejection(() => validateUpdate(encodeTensors(ts, { encoding: 'fp32' }), specs, fp32));
    expect(e.code).toBe('shape_mismatch');
    expect(e.details).toMatchObject({ name: 'dense/kernel', expected: [4, 3], got: [3, 4] });
  });

  it('rejects a tensor larger than the model allows with shape_mismatch', () => {
    const ts = tensors(0.01);
    ts[0] = { name: 'dense/kernel', shape: [5, 3], data: new Float32Array(15) };
    expect(rejection(() => validateUpdate(encodeTensors(ts, { encoding: 'fp32' }), specs, fp32)).code).toBe(
      'shape_mismatch',
    );
  });

  it('rejects NaN and Infinity with non_finite', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const ts = tensors(0.05);
      ts[1].data[2] = bad;
      expect(rejection(() => validateUpdate(encodeTensors(ts, { encoding: 'fp32' }), specs, fp32)).code).toBe(
        'non_finite',
      );
    }
  });

  it('rejects an update over the clip norm with norm_exceeded', () => {
    const ts = tensors(1);
    expect(norm(ts)).toBeGreaterThan(1);
    const e = rejection(() => validateUpdate(encodeTensors(ts, { encoding: 'fp32' }), specs, fp32));
    expect(e.code).toBe('norm_exceeded');
    expect((e.details as { norm: number }).norm).toBeCloseTo(norm(ts), 4);
  });

  it('allows quantization slack for int8 but not more', () => {
    const base = tensors(1);
    const unit = 1 / norm(base);
    const scaled = (factor: number) => base.map((t) => ({ ...t, data: t.data.map((v) => v * unit * factor) }));
    const bound = { clipNorm: 1, encoding: { encoding: 'int8' as const } };
    expect(validateUpdate(encodeTensors(scaled(1.01), { encoding: 'int8' }), specs, bound).norm).toBeGreaterThan(1);
    expect(rejection(() => validateUpdate(encodeTensors(scaled(1.2), { encoding: 'int8' }), specs, bound)).code).toBe(
      'norm_exceeded',
    );
    expect(rejection(() => validateUpdate(encodeTensors(scaled(1.01), { encoding: 'fp32' }), specs, fp32)).code).toBe(
      'norm_exceeded',
    );
  });

  it('rejects garbage and truncated bytes with unprocessable', () => {
    const garbage = Uint8Array.from({ length: 200 }, (_, i) => (i * 37 + 11) & 255);
    expect(rejection(() => validateUpdate(garbage, specs, fp32)).code).toBe('unprocessable');
    const valid = encodeTensors(tensors(0.05), { encoding: 'fp32' });
    expect(rejection(() => validateUpdate(valid.subarray(0, valid.length - 9), specs, fp32)).code).toBe(
      'unprocessable',
    );
    const flipped = valid.slice();
    flipped[flipped.length - 20] ^= 0xff;
    expect(rejection(() => validateUpdate(flipped, specs, fp32)).code).toBe('unprocessable');
    expect(rejection(() => validateUpdate(new Uint8Array(0), specs, fp32)).code).toBe('unprocessable');
  });

  it('bounds the largest valid update above the size of any valid encoding', () => {
    const biggest = encodeTensors(tensors(0.05), { encoding: 'topk', topkFraction: 1 });
    expect(maxUpdateBytes(specs)).toBeGreaterThanOrEqual(biggest.byteLength);
    expect(maxUpdateBytes(specs)).toBeGreaterThanOrEqual(encodeTensors(tensors(0.05), { encoding: 'fp32' }).byteLength);
  });
});

describe('validateUpdate with frozen layers', () => {
  // A base layer the version's spec freezes and a head that trains.
  const model: WeightSpec[] = [
    { name: 'base/kernel', shape: [4, 3] },
    { name: 'base/bias', shape: [3] },
    { name: 'head/kernel', shape: [3, 2] },
    { name: 'head/bias', shape: [2] },
  ];
  const frozen = new Set(['base']);
  const ramp = (name: string, shape: number[]): NamedTensor => ({
    name,
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => 0.01 * (i + 1)),
  });
  const head = [ramp('head/kernel', [3, 2]), ramp('head/bias', [2])];

  it('accepts exactly the trainable tensors and aligns them to every weight, zeros for the frozen', () => {
    const { deltas, norm: n } = validateUpdate(encodeTensors(head, { encoding: 'fp32' }), model, fp32, frozen);
    expect(deltas.map((d) => d.length)).toEqual([12, 3, 6, 2]);
    expect(Array.from(deltas[0])).toEqual(Array(12).fill(0));
    expect(Array.from(deltas[1])).toEqual(Array(3).fill(0));
    expect(Array.from(deltas[2])).toEqual(Array.from(head[0].data));
    expect(Array.from(deltas[3])).toEqual(Array.from(head[1].data));
    expect(n).toBeCloseTo(norm(head), 5);
  });

  it('refuses an update that carries a frozen tensor, naming it', () => {
    // Same tensor count and within the trainable element budget, so the codec limits let it through.
    const sneaky = [ramp('base/bias', [3]), head[1]];
    const e = rejection(() => validateUpdate(encodeTensors(sneaky, { encoding: 'fp32' }), model, fp32, frozen));
    expect(e.code).toBe('shape_mismatch');
    expect(e.status).toBe(422);
    expect(e.details).toMatchObject({ frozen: ['base/bias'] });
  });

  it('refuses a whole-model update, saying which layers are frozen', () => {
    const all = [ramp('base/kernel', [4, 3]), ramp('base/bias', [3]), ...head];
    const e = rejection(() => validateUpdate(encodeTensors(all, { encoding: 'fp32' }), model, fp32, frozen));
    expect(e.code).toBe('shape_mismatch');
    expect(e.message).toContain('layers base are frozen');
  });

  it('refuses an update that lacks a trainable tensor', () => {
    const e = rejection(() =>
      validateUpdate(encodeTensors(head.slice(0, 1), { encoding: 'fp32' }), model, fp32, frozen),
    );
    expect(e.code).toBe('shape_mismatch');
    expect(e.details).toMatchObject({ missing: 'head/bias' });
  });

  it('refuses every update when every layer is frozen', () => {
    const e = rejection(() =>
      validateUpdate(encodeTensors(head, { encoding: 'fp32' }), model, fp32, new Set(['base', 'head'])),
    );
    expect(e.code).toBe('unprocessable');
  });
});
