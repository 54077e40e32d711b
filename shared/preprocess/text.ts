/**
 * Text to features: NFKC, lower-casing, tokens (words and/or character
 * n-grams), then a hashed or vocabulary bag (TF / binary / TF-IDF, L2) or a
 * sequence of token ids. Pure and deterministic: `String.prototype.normalize`,
 * Unicode-aware regular expressions and UTF-8 bytes behave alike in Node and
 * browsers.
 */
import { PreprocessInputError } from './input-error.ts';
import { murmur3_32 } from './murmur3.ts';
import type { TextPreprocess } from './spec.ts';

const utf8 = new TextEncoder();
/** Runs of letters, marks and digits, or one pictographic emoji (with its modifiers and joiners). */
const WORD = /[\p{L}\p{M}\p{N}]+|\p{Extended_Pictographic}(?:\p{EMod}|\uFE0F|\u200D\p{Extended_Pictographic})*/gu;

/** The normalised text tokens are taken from. */
export function normalizeText(spec: Pick<TextPreprocess, 'lowercase'>, text: string): string {
  const nfkc = text.normalize('NFKC');
  return spec.lowercase ? nfkc.toLowerCase() : nfkc;
}

/**
 * The tokens of `text` in order: words first (`w:` prefix keeps them apart from
 * n-grams), then character n-grams (`c:` prefix) over code points.
 *
 * @example
 * tokenize({ lowercase: true, words: true, charNgrams: [3, 3] }, 'Hi!') // ['w:hi', 'c: hi', 'c:hi ']
 */
export function tokenize(spec: Pick<TextPreprocess, 'lowercase' | 'words' | 'charNgrams'>, text: string): string[] {
  const norm = normalizeText(spec, text);
  const tokens: string[] = [];
  if (spec.words) for (const m of norm.matchAll(WORD)) tokens.push(`w:${m[0]}`);
  if (spec.charNgrams) {
    const chars = Array.from(` ${norm.replace(/\s+/gu, ' ').trim()} `);
    const [lo, hi] = spec.charNgrams;
    for (let n = lo; n <= hi; n++)
      for (let i = 0; i + n <= chars.length; i++) tokens.push(`c:${chars.slice(i, i + n).join('')}`);
  }
  return tokens;
}

/** Number of features (bag) or positions (sequence) the spec produces. */
export function textWidth(spec: TextPreprocess): number {
  if (spec.output.type === 'sequence') return spec.output.maxLength;
  return bucketCount(spec);
}

/** Buckets of the encoding: hashing dimensions, or vocabulary + 1 out-of-vocabulary bucket (the last). */
export function bucketCount(spec: TextPreprocess): number {
  return spec.encoding.type === 'hashing' ? spec.encoding.dimensions : spec.encoding.vocabulary.length + 1;
}

/** A token -> bucket function for the spec's encoding (vocabulary lookups are built once). */
export function bucketer(spec: TextPreprocess): (token: string) => number {
  const encoding = spec.encoding;
  if (encoding.type === 'hashing') {
    return (token) => murmur3_32(utf8.encode(token), encoding.seed) % encoding.dimensions;
  }
  const index = new Map<string, number>();
  encoding.vocabulary.forEach((t, i) => index.set(t, i));
  const oov = encoding.vocabulary.length;
  return (token) => index.get(token) ?? oov;
}

/**
 * Features of one text. Bags: TF counts (or 1s), times idf for TF-IDF, then
 * L2-normalised; sequences: bucket + 1 per token (0 pads), cut at maxLength.
 * @throws PreprocessInputError 'wrong_kind' when `raw` is not a string
 */
export function textFeatures(spec: TextPreprocess, raw: unknown, bucket = bucketer(spec)): Float32Array {
  if (typeof raw !== 'string')
    throw new PreprocessInputError(
      'wrong_kind',
      'text',
      `this model reads text; got ${raw === null ? 'null' : typeof raw}`,
    );
  const tokens = tokenize(spec, raw);
  if (spec.output.type === 'sequence') {
    const out = new Float32Array(spec.output.maxLength);
    for (let i = 0; i < Math.min(tokens.length, out.length); i++) out[i] = bucket(tokens[i]) + 1;
    return out;
  }
  const out = new Float32Array(bucketCount(spec));
  for (const t of tokens) out[bucket(t)] += 1;
  const { weighting, idf, l2Normalize } = spec.output;
  if (weighting === 'binary') for (let i = 0; i < out.length; i++) out[i] = out[i] > 0 ? 1 : 0;
  if (weighting === 'tfidf' && idf) for (let i = 0; i < out.length; i++) out[i] *= idf[i];
  if (l2Normalize) {
    let sq = 0;
    for (let i = 0; i < out.length; i++) sq += out[i] * out[i];
    if (sq > 0) {
      const inv = 1 / Math.sqrt(sq);
      for (let i = 0; i < out.length; i++) out[i] *= inv;
    }
  }
  return out;
}

/**
 * Fits what a text spec learns from a corpus: the `maxVocabulary` most frequent
 * tokens (by documents containing them, ties by token) for a vocabulary
 * encoding, and smoothed idf weights, ln((1 + n) / (1 + df)) + 1, for TF-IDF.
 *
 * @example
 * const spec = fitText({ ...draft, encoding: { type: 'vocabulary', vocabulary: ['x'] } }, mails, { maxVocabulary: 20000 });
 */
export function fitText(
  spec: TextPreprocess,
  corpus: readonly string[],
  options: { maxVocabulary?: number } = {},
): TextPreprocess {
  let fitted = spec;
  if (spec.encoding.type === 'vocabulary') {
    const df = new Map<string, number>();
    for (const doc of corpus) for (const t of new Set(tokenize(spec, doc))) df.set(t, (df.get(t) ?? 0) + 1);
    const vocabulary = [...df.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, options.maxVocabulary ?? 20_000)
      .map(([t]) => t);
    fitted = { ...spec, encoding: { type: 'vocabulary', vocabulary: vocabulary.length ? vocabulary : ['w:'] } };
  }
  if (fitted.output.type === 'bag' && fitted.output.weighting === 'tfidf') {
    const bucket = bucketer(fitted);
    const df = new Float64Array(bucketCount(fitted));
    for (const doc of corpus) for (const b of new Set(tokenize(fitted, doc).map(bucket))) df[b] += 1;
    const n = corpus.length;
    fitted = { ...fitted, output: { ...fitted.output, idf: Array.from(df, (d) => Math.log((1 + n) / (1 + d)) + 1) } };
  }
  return fitted;
}
