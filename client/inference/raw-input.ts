/**
 * Raw inputs (a text, a record of fields, an image) turned into the feature
 * vector the model reads, by the version's preprocessing spec, through the
 * one implementation in shared/preprocess. Feature vectors (Float32Array,
 * number[], tf.Tensor) still go straight to the model, so an app that
 * preprocesses itself keeps working.
 */
import * as tf from '@tensorflow/tfjs';
import { compilePreprocess, PreprocessInputError, type Preprocessor } from '../../shared/preprocess/index.ts';
import type { PreprocessSpec } from '../../shared/preprocess/index.ts';
import { FlockInputError } from './input-error.ts';

/** What a model with a preprocessing spec accepts besides feature vectors. */
export type RawInput = string | Record<string, unknown> | { data: ArrayLike<number>; width: number; height: number };

/** True for inputs that already are features and skip preprocessing. */
export function isFeatureInput(input: unknown): input is Float32Array | number[] | tf.Tensor {
  return input instanceof Float32Array || Array.isArray(input) || input instanceof tf.Tensor;
}

/** A compiled spec whose `apply` throws `FlockInputError` (naming the field) for input it cannot use. */
export interface RawInputReader {
  preprocessor: Preprocessor;
  /** @throws FlockInputError code 'bad_raw_input' with `field` set */
  features(raw: unknown): Float32Array;
}

/**
 * @example
 * const reader = rawInputReader(spec.preprocess);
 * reader.features('WIN A FREE CRUISE'); // Float32Array of the spec's width
 */
export function rawInputReader(spec: PreprocessSpec): RawInputReader {
  const preprocessor = compilePreprocess(spec);
  return {
    preprocessor,
    features(raw) {
      let out: Float32Array;
      try {
        out = preprocessor.apply(raw);
      } catch (error) {
        if (error instanceof PreprocessInputError)
          throw new FlockInputError(
            'bad_raw_input',
            `input the model's ${spec.input.kind} preprocessing reads`,
            error.message,
            '',
            error.field,
          );
        throw error;
      }
      // The spec's own guarantee, checked once more: a NaN must never reach the model.
      const bad = out.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0)
        throw new FlockInputError(
          'non_finite',
          'finite features',
          `${out[bad]} at feature ${bad} after preprocessing`,
          '',
          spec.input.kind,
        );
      return out;
    },
  };
}
