import { describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec/index.ts';
import { HoldoutError, readHoldout, writeHoldout } from './holdout.ts';

describe('holdout files', () => {
  it('round-trips x, y and the input shape', () => {
    const x = Float32Array.from({ length: 3 * 2 * 2 }, (_, i) => i / 7);
    const y = new Uint8Array([2, 0, 9]);
    const holdout = readHoldout(writeHoldout({ x, y, inputShape: [2, 2] }));
    expect(holdout.count).toBe(3);
    expect(holdout.inputShape).toEqual([2, 2]);
    expect(holdout.x).toEqual(x);
    expect(Array.from(holdout.y)).toEqual([2, 0, 9]);
    expect(holdout.targetWidth).toBe(1);
  });

  it('round-trips targets of several values per example (multilabel 0/1, regression outputs)', () => {
    const y = Float32Array.of(0.25, -3.5, 1e6, 7);
    const holdout = readHoldout(writeHoldout({ x: new Float32Array(2 * 3), y, inputShape: [3], targetWidth: 2 }));
    expect(holdout).toMatchObject({ count: 2, targetWidth: 2, inputShape: [3] });
    expect(holdout.y).toEqual(y);
    expect(() => writeHoldout({ x: new Float32Array(3), y: [1, 2, 3], inputShape: [1], targetWidth: 2 })).toThrow(
      /whole number of targets/,
    );
    expect(() => writeHoldout({ x: new Float32Array(1), y: [Number.NaN], inputShape: [1] })).toThrow(/finite/);
  });

  it('refuses mismatched writes', () => {
    expect(() => writeHoldout({ x: new Float32Array(5), y: new Uint8Array(2), inputShape: [2] })).toThrow(HoldoutError);
  });

  it('refuses files that are not holdouts', () => {
    const t = (name: string, shape: number[], data: number[]) => ({ name, shape, data: Float32Array.from(data) });
    const cases: Array<[Uint8Array, RegExp]> = [
      [new Uint8Array([1, 2, 3]), /does not decode/],
      [encodeTensors([t('x', [1, 2], [0, 1])], { encoding: 'fp32' }), /exactly the tensors/],
      [encodeTensors([t('x', [2, 2], [0, 1, 2, 3]), t('y', [3], [0, 1, 2])], { encoding: 'fp32' }), /y must be \[n\]/],
      [
        encodeTensors([t('x', [1, 1], [0]), t('y', [1, 1, 1], [0])], { encoding: 'fp32' }),
        /y must be \[n\] or \[n, k\]/,
      ],
      [
        encodeTensors([t('x', [2, 1], [0, 1]), t('y', [2], [0, Number.POSITIVE_INFINITY])], { encoding: 'fp32' }),
        /Infinity/,
      ],
      [encodeTensors([t('x', [0, 3], []), t('y', [0], [])], { encoding: 'fp32' }), /no examples/],
    ];
    for (const [bytes, message] of cases) {
      let caught: unknown;
      try {
        readHoldout(bytes);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(HoldoutError);
      expect((caught as HoldoutError).code).toBe('bad_holdout');
      expect((caught as Error).message).toMatch(message);
    }
  });
});
