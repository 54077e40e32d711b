/**
 * What `record(input, target)` accepts for each output kind, and how the
 * stored targets become the `y` local training fits:
 * - multiclass: a class index in [0, units) or one of the spec's label names;
 * - binary: 0 / 1, true / false, or one of its two label names;
 * - multilabel: the label names that apply, or one 0/1 per label;
 * - regression: a number, or one number per output unit.
 * Anything else is a `FlockInputError` ('bad_target', field 'target').
 */
import type { OutputSpec } from '../../shared/protocol/model-spec.ts';
import { FlockInputError } from './input-error.ts';

/** A target as the store keeps it: a class index, plus the values for kinds with several. */
export interface ExampleTarget {
  label: number;
  target?: Float32Array;
}

/** What `record` takes as the target. */
export type RecordTarget = number | boolean | string | readonly string[] | readonly number[] | Float32Array;

const describe = (v: unknown) =>
  v === null ? 'null' : Array.isArray(v) ? `an array of ${v.length}` : typeof v === 'string' ? `"${v}"` : String(v);

const bad = (expected: string, got: unknown) =>
  new FlockInputError('bad_target', expected, describe(got), '', 'target');

function classIndex(target: unknown, units: number, labels: readonly string[] | undefined): number {
  if (typeof target === 'string' && labels) {
    const i = labels.indexOf(target);
    if (i >= 0) return i;
  }
  if (typeof target === 'number' && Number.isInteger(target) && target >= 0 && target < units) return target;
  throw bad(
    `a class index in [0, ${units})${labels ? ` or one of ${labels.map((l) => `"${l}"`).join(', ')}` : ''}`,
    target,
  );
}

/**
 * @param units the model's output units (the width of its output row)
 * @throws FlockInputError 'bad_target'
 *
 * @example
 * exampleTarget('spam', { kind: 'binary', threshold: 0.5, labels: ['ham', 'spam'] }, 1) // { label: 1 }
 * exampleTarget(212.5, { kind: 'regression' }, 1) // { label: 0, target: Float32Array [212.5] }
 */
export function exampleTarget(target: unknown, output: OutputSpec, units: number): ExampleTarget {
  switch (output.kind) {
    case 'multiclass':
      return { label: classIndex(target, units, output.labels) };
    case 'binary':
      if (typeof target === 'boolean') return { label: target ? 1 : 0 };
      return { label: classIndex(target, 2, output.labels) };
    case 'multilabel': {
      const width = output.labels.length;
      const values = new Float32Array(width);
      if (Array.isArray(target) && target.every((t) => typeof t === 'string')) {
        for (const name of target as string[]) {
          const i = output.labels.indexOf(name);
          if (i < 0) throw bad(`label names among ${output.labels.map((l) => `"${l}"`).join(', ')}`, name);
          values[i] = 1;
        }
        return { label: 0, target: values };
      }
      const arr =
        target instanceof Float32Array || Array.isArray(target) ? Array.from(target as ArrayLike<number>) : null;
      if (arr && arr.length === width && arr.every((v) => v === 0 || v === 1)) {
        values.set(arr);
        return { label: 0, target: values };
      }
      throw bad(`the label names that apply, or ${width} values of 0 or 1`, target);
    }
    case 'regression': {
      const arr =
        typeof target === 'number'
          ? [target]
          : target instanceof Float32Array || Array.isArray(target)
            ? Array.from(target as ArrayLike<number>)
            : null;
      if (arr && arr.length === units && arr.every((v) => typeof v === 'number' && Number.isFinite(v)))
        return { label: 0, target: Float32Array.from(arr) };
      throw bad(units === 1 ? 'a finite number' : `${units} finite numbers`, target);
    }
  }
}

/** Values of `y` per example for training (1 for class indices). */
export function targetWidth(output: OutputSpec, units: number): number {
  return output.kind === 'multilabel' ? output.labels.length : output.kind === 'regression' ? units : 1;
}

/**
 * The `y` of local training from stored examples: class indices for
 * multiclass and binary, else `targetWidth` values per example.
 *
 * @example
 * const { y, width } = trainingTargets(examples, spec.output, 1);
 */
export function trainingTargets(
  examples: readonly ExampleTarget[],
  output: OutputSpec,
  units: number,
): { y: Float32Array; width: number } {
  const width = targetWidth(output, units);
  const y = new Float32Array(examples.length * width);
  examples.forEach((e, i) => {
    if (output.kind === 'multiclass' || output.kind === 'binary') y[i] = e.label;
    else {
      if (!e.target || e.target.length !== width)
        throw new FlockInputError(
          'bad_target',
          `${width} target values (a ${output.kind} model)`,
          e.target ? `${e.target.length}` : 'a class label only',
          'clear examples recorded for another model',
          'target',
        );
      y.set(e.target, i * width);
    }
  });
  return { y, width };
}
