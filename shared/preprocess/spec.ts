/**
 * The preprocessing a model version ships with: how raw inputs (an image, a
 * text, a record of named fields) become the feature vector the model reads.
 * Declarative and versioned, so the page, the training worker, the service
 * worker, the coordinator's holdout check and `flock simulate` all run the
 * one implementation in this folder on the same spec: no training-serving skew.
 */
import { z } from 'zod';

export const PREPROCESS_SPEC_VERSION = 1;

const positiveInt = z
  .int()
  .min(1)
  .max(1 << 20);

/**
 * Images (ImageData / canvas pixels, or a typed array with its size):
 * - `fit: 'stretch'` resizes the whole image to width x height (area average
 *   when shrinking, bilinear when enlarging);
 * - `fit: 'center-of-mass'` is MNIST's: the ink's bounding box scaled into a
 *   `box` x `box` square, centred by its centre of mass in the frame.
 * Pixels become luma (BT.601) or RGB in [0, 1], optionally inverted, then
 * `(v - mean) / std` per channel.
 */
export const ImagePreprocessSchema = z.object({
  kind: z.literal('image'),
  width: positiveInt,
  height: positiveInt,
  channels: z.union([z.literal(1), z.literal(3)]),
  fit: z.enum(['stretch', 'center-of-mass']).default('stretch'),
  /** Side of the box the ink is fitted into for 'center-of-mass' (MNIST: 20 in a 28 frame). */
  box: positiveInt.optional(),
  /** 1 - v after scaling to [0, 1] (dark ink on a light canvas -> MNIST's light on dark). */
  invert: z.boolean().default(false),
  mean: z.array(z.number()).min(1).max(3).optional(),
  std: z.array(z.number().positive()).min(1).max(3).optional(),
});
export type ImagePreprocess = z.infer<typeof ImagePreprocessSchema>;

/**
 * Text: NFKC, optional lower-casing, tokens (words: runs of letters and
 * digits, each emoji on its own; and/or character n-grams of the padded
 * text), then either a bag (hashing into `dimensions` buckets with
 * MurmurHash3 x86 32 of the token's UTF-8 bytes, or a shipped vocabulary with
 * one out-of-vocabulary bucket; TF, binary or TF-IDF, optionally L2-normalised)
 * or a sequence of `maxLength` token ids for embedding models (0 = padding).
 */
export const TextPreprocessSchema = z.object({
  kind: z.literal('text'),
  lowercase: z.boolean().default(true),
  words: z.boolean().default(true),
  /** Character n-grams of these lengths (inclusive), over ` text ` with spaces collapsed. */
  charNgrams: z.tuple([z.int().min(1).max(8), z.int().min(1).max(8)]).optional(),
  encoding: z.discriminatedUnion('type', [
    z.object({ type: z.literal('hashing'), dimensions: positiveInt, seed: z.int().min(0).max(0xffffffff).default(0) }),
    z.object({
      type: z.literal('vocabulary'),
      vocabulary: z
        .array(z.string().min(1).max(256))
        .min(1)
        .max(1 << 18),
    }),
  ]),
  output: z.discriminatedUnion('type', [
    z.object({
      type: z.literal('bag'),
      weighting: z.enum(['binary', 'tf', 'tfidf']).default('tf'),
      /** One weight per feature, for 'tfidf' (fitted on a corpus: `fitText`). */
      idf: z.array(z.number().min(0)).optional(),
      l2Normalize: z.boolean().default(true),
    }),
    z.object({ type: z.literal('sequence'), maxLength: positiveInt }),
  ]),
});
export type TextPreprocess = z.infer<typeof TextPreprocessSchema>;

const NumericFieldSchema = z.object({
  name: z.string().min(1).max(128),
  type: z.literal('numeric'),
  mean: z.number(),
  std: z.number().positive(),
  /** Used when the field is missing, null or empty; default: the mean (0 after standardisation). */
  missing: z.number().optional(),
});
const CategoricalFieldSchema = z.object({
  name: z.string().min(1).max(128),
  type: z.literal('categorical'),
  /** One-hot over these values plus one out-of-vocabulary bucket (also taken by missing values). */
  vocabulary: z.array(z.string().max(256)).min(1).max(4096),
});

/** Records of named fields: numbers standardised with stored statistics, categories one-hot with an OOV bucket. */
export const TabularPreprocessSchema = z.object({
  kind: z.literal('tabular'),
  fields: z
    .array(z.discriminatedUnion('type', [NumericFieldSchema, CategoricalFieldSchema]))
    .min(1)
    .max(1024),
});
export type TabularPreprocess = z.infer<typeof TabularPreprocessSchema>;
export type TabularField = TabularPreprocess['fields'][number];

export const PreprocessSpecSchema = z
  .object({
    version: z.literal(PREPROCESS_SPEC_VERSION),
    input: z.discriminatedUnion('kind', [ImagePreprocessSchema, TextPreprocessSchema, TabularPreprocessSchema]),
  })
  .superRefine((spec, ctx) => {
    const input = spec.input;
    if (input.kind === 'image') {
      for (const key of ['mean', 'std'] as const) {
        const v = input[key];
        if (v && v.length !== input.channels)
          ctx.addIssue({
            code: 'custom',
            path: ['input', key],
            message: `${key} needs one value per channel (${input.channels})`,
          });
      }
      if (input.fit === 'center-of-mass' && (input.box ?? 0) > Math.min(input.width, input.height)) {
        ctx.addIssue({ code: 'custom', path: ['input', 'box'], message: 'box must fit inside the frame' });
      }
    }
    if (input.kind === 'text') {
      if (!input.words && !input.charNgrams)
        ctx.addIssue({ code: 'custom', path: ['input'], message: 'text needs words, charNgrams or both' });
      if (input.charNgrams && input.charNgrams[0] > input.charNgrams[1])
        ctx.addIssue({ code: 'custom', path: ['input', 'charNgrams'], message: 'charNgrams is [min, max]' });
      if (input.output.type === 'bag' && input.output.weighting === 'tfidf') {
        const width =
          input.encoding.type === 'hashing' ? input.encoding.dimensions : input.encoding.vocabulary.length + 1;
        if (input.output.idf?.length !== width)
          ctx.addIssue({
            code: 'custom',
            path: ['input', 'output', 'idf'],
            message: `tfidf needs ${width} idf weights (fit them with fitText)`,
          });
      }
    }
    if (input.kind === 'tabular') {
      const seen = new Set<string>();
      for (const [i, f] of input.fields.entries()) {
        if (seen.has(f.name))
          ctx.addIssue({
            code: 'custom',
            path: ['input', 'fields', i, 'name'],
            message: `field ${f.name} appears twice`,
          });
        seen.add(f.name);
      }
    }
  });
export type PreprocessSpec = z.infer<typeof PreprocessSpecSchema>;
export type PreprocessInput = PreprocessSpec['input'];
