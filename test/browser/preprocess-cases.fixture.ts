/**
 * Preprocessing cases run in Node and in Chromium (preprocess-parity.test.ts):
 * text in many scripts and normal forms, images of odd sizes (shrink and
 * enlarge, RGBA and gray, MNIST's centre of mass), and records with missing
 * and unknown values. Images are generated from their size, so both sides
 * build the same pixels without shipping them.
 */
import type { RawImage } from '../../shared/preprocess/index.ts';

export type Outcome = { hex: string; length: number; nonZero: number } | { error: string; field: string | undefined };

/** Features as the hex of their float32 bytes (so -0, NaN payloads and the last bit all count), or the refusal. */
export function outcomeOf(run: () => Float32Array): Outcome {
  try {
    const f = run();
    let hex = '';
    for (const b of new Uint8Array(f.buffer, f.byteOffset, f.byteLength)) hex += b.toString(16).padStart(2, '0');
    return { hex, length: f.length, nonZero: f.filter((v) => v !== 0).length };
  } catch (error) {
    const e = error as { name: string; field?: string };
    return { error: e.name, field: e.field };
  }
}

export interface PreprocessCase {
  name: string;
  spec: unknown;
  inputs: unknown[];
}

const TEXTS = [
  'WIN a FREE cruise!!! 🚢🚢 👩‍👩‍👧 🇫🇷',
  'Réunion déplacée à 15h, café en bas',
  'Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ ﬁnance ǅ ℌ ① ²',
  'ελληνικά, русский текст, עברית, العربية، हिन्दी',
  '中文字符和日本語のテキスト、한국어',
  'e\u0301 vs é, A\u030A vs Å, ﷺ',
  '',
  '   \t\n  ',
  '𝒜𝓁𝓅𝒽𝒶 math letters and \u200d zero width joiner',
  42,
];

/** A `{ image: [w, h, channels] }` input becomes pixels from its size alone. */
export function rawInputOf(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || !('image' in input)) return input;
  const [width, height, channels] = (input as { image: [number, number, 1 | 3 | 4] }).image;
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < width * height; i++) {
    const x = i % width;
    const y = Math.floor(i / width);
    for (let c = 0; c < channels; c++)
      data[i * channels + c] = c === 3 ? 40 + ((x + y) % 200) : (x * 37 + y * 91 + c * 53) % 256;
  }
  const image: RawImage = { data, width, height, channels };
  return image;
}

const IMAGES = [
  [37, 23, 4],
  [1, 99, 4],
  [64, 3, 1],
  [9, 9, 3],
  [280, 280, 4],
  [5, 7, 1],
].map((image) => ({ image }));

export const PREPROCESS_CASES: PreprocessCase[] = [
  {
    name: 'text: words and 2-4 char n-grams hashed into 512 TF buckets, L2',
    spec: {
      version: 1,
      input: {
        kind: 'text',
        charNgrams: [2, 4],
        encoding: { type: 'hashing', dimensions: 512 },
        output: { type: 'bag' },
      },
    },
    inputs: TEXTS,
  },
  {
    name: 'text: case kept, binary bag, hashing seed 7, no L2',
    spec: {
      version: 1,
      input: {
        kind: 'text',
        lowercase: false,
        encoding: { type: 'hashing', dimensions: 97, seed: 7 },
        output: { type: 'bag', weighting: 'binary', l2Normalize: false },
      },
    },
    inputs: TEXTS,
  },
  {
    name: 'text: vocabulary with an OOV bucket, sequence of 16 ids',
    spec: {
      version: 1,
      input: {
        kind: 'text',
        encoding: {
          type: 'vocabulary',
          vocabulary: ['win', 'free', 'café', 'текст', '中文字符和日本語のテキスト', '🚢'],
        },
        output: { type: 'sequence', maxLength: 16 },
      },
    },
    inputs: TEXTS,
  },
  {
    name: 'image: 28x28 gray, stretched, inverted, standardised',
    spec: {
      version: 1,
      input: { kind: 'image', width: 28, height: 28, channels: 1, invert: true, mean: [0.13], std: [0.31] },
    },
    inputs: IMAGES,
  },
  {
    name: 'image: 13x11 RGB, stretched',
    spec: { version: 1, input: { kind: 'image', width: 13, height: 11, channels: 3 } },
    inputs: IMAGES,
  },
  {
    name: "image: MNIST's centre of mass (20 in 28)",
    spec: { version: 1, input: { kind: 'image', width: 28, height: 28, channels: 1, fit: 'center-of-mass', box: 20 } },
    inputs: IMAGES,
  },
  {
    name: 'tabular: standardised numbers with missing values, categories with an OOV bucket',
    spec: {
      version: 1,
      input: {
        kind: 'tabular',
        fields: [
          { name: 'rooms', type: 'numeric', mean: 3, std: 1.5 },
          { name: 'area', type: 'numeric', mean: 70.1, std: 25.3, missing: 70 },
          { name: 'city', type: 'categorical', vocabulary: ['paris', 'lyon', 'besançon', 'zürich'] },
        ],
      },
    },
    inputs: [
      { rooms: 1, area: 33.3, city: 'paris' },
      { rooms: 4, city: 'Besançon' },
      { rooms: 2, area: null, city: 'zürich' },
      { rooms: 0.1, area: '', city: 'oslo' },
      { rooms: 1e6, area: 1e-6 },
      { rooms: 'many', city: 'paris' },
    ],
  },
];
