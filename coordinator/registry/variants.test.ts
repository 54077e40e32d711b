import { describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec/index.ts';
import { ModelPackageError } from './model-package-error.ts';
import { deriveVariants, shardBytes, weightsFromVariant } from './variants.ts';

const weightSpecs = [
  { name: 'dense/kernel', shape: [6, 4] },
  { name: 'dense/bias', shape: [4] },
];
/** Columns (output channels) with very different ranges, where per-channel int8 pays off. */
const kernel = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 10 ** ((i % 4) - 2));
const bias = new Float32Array([0.5, -0.25, 0, 1]);
const pkg = { weightSpecs, weights: [kernel, bias] };

describe('deriveVariants / weightsFromVariant', () => {
  it('derives fp32, fp16 and int8 variants that decode to the specs', () => {
    const variants = deriveVariants(pkg);
    expect(variants.map((v) => v.encoding)).toEqual(['fp32', 'fp16', 'int8']);
    const [fp32, fp16, int8] = variants.map((v) => weightsFromVariant(v.bytes, weightSpecs));
    expect(fp32).toEqual([kernel, bias]);
    for (let i = 0; i < kernel.length; i++) {
      expect(Math.abs(fp16[0][i] - kernel[i])).toBeLessThanOrEqual(Math.abs(kernel[i]) * 2 ** -10 + 1e-7);
      // Per-channel: the error is bounded by the channel's own range, not the tensor's.
      const channelRange = 2 * 10 ** ((i % 4) - 2);
      expect(Math.abs(int8[0][i] - kernel[i])).toBeLessThanOrEqual(channelRange / 255);
    }
  });

  it('makes fp16 about half and int8 about a quarter of fp32 for a real-sized layer', () => {
    const big = {
      weightSpecs: [{ name: 'k', shape: [256, 64] }],
      weights: [Float32Array.from({ length: 256 * 64 }, (_, i) => Math.cos(i))],
    };
    const [fp32, fp16, int8] = deriveVariants(big).map((v) => v.bytes.byteLength);
    expect(fp16 / fp32).toBeGreaterThan(0.45);
    expect(fp16 / fp32).toBeLessThan(0.55);
    expect(int8 / fp32).toBeGreaterThan(0.2);
    expect(int8 / fp32).toBeLessThan(0.3);
  });

  it('refuses a variant of another model, or garbage', () => {
    const [fp32] = deriveVariants(pkg);
    const renamed = [{ name: 'other/kernel', shape: [6, 4] }, weightSpecs[1]];
    expect(() => weightsFromVariant(fp32.bytes, renamed)).toThrow(/other\/kernel/);
    const reshaped = [{ name: 'dense/kernel', shape: [4, 6] }, weightSpecs[1]];
    expect(() => weightsFromVariant(fp32.bytes, reshaped)).toThrow(ModelPackageError);
    expect(() => weightsFromVariant(fp32.bytes, weightSpecs.slice(0, 1))).toThrow(/holds 2 tensors/);
    const corrupted = fp32.bytes.slice();
    corrupted[corrupted.length - 10] ^= 0xff;
    expect(() => weightsFromVariant(corrupted, weightSpecs)).toThrow(/does not decode/);
    const reordered = encodeTensors(
      [
        { ...weightSpecs[1], data: bias },
        { ...weightSpecs[0], data: kernel },
      ],
      { encoding: 'fp32' },
    );
    try {
      weightsFromVariant(reordered, weightSpecs);
      expect.unreachable();
    } catch (err) {
      expect((err as ModelPackageError).code).toBe('bad_variant');
    }
  });
});

describe('shardBytes', () => {
  it('cuts into views of at most shardSize that join back to the input', () => {
    const bytes = Uint8Array.from({ length: 10 }, (_, i) => i);
    const shards = shardBytes(bytes, 4);
    expect(shards.map((s) => s.byteLength)).toEqual([4, 4, 2]);
    expect(Array.from(shards.flatMap((s) => Array.from(s)))).toEqual(Array.from(bytes));
    expect(shards[1].buffer).toBe(bytes.buffer);
    expect(shardBytes(bytes, 10)).toHaveLength(1);
    expect(shardBytes(new Uint8Array(0))).toHaveLength(1);
    expect(shardBytes(new Uint8Array(9 * 1024 * 1024)).map((s) => s.byteLength)).toEqual([4 << 20, 4 << 20, 1 << 20]);
    expect(() => shardBytes(bytes, 0)).toThrow(RangeError);
  });
});
