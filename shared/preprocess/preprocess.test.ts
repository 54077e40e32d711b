import { describe, expect, it } from 'vitest';
import {
  compilePreprocess,
  featureShape,
  fitTabular,
  fitText,
  murmur3_32,
  PreprocessInputError,
  PreprocessSpecSchema,
  tokenize,
  type PreprocessSpec,
  type TextPreprocess,
} from './index.ts';

const utf8 = new TextEncoder();
const spec = (input: unknown): PreprocessSpec => PreprocessSpecSchema.parse({ version: 1, input });

describe('MurmurHash3 x86 32', () => {
  it('matches the reference vectors', () => {
    expect(murmur3_32(utf8.encode(''), 0)).toBe(0);
    expect(murmur3_32(utf8.encode(''), 1)).toBe(0x514e28b7);
    expect(murmur3_32(utf8.encode('hello'), 0)).toBe(0x248bfa47);
    expect(murmur3_32(utf8.encode('The quick brown fox jumps over the lazy dog'), 0)).toBe(0x2e4ff723);
    expect(murmur3_32(utf8.encode('abc'), 0)).toBe(0xb3dd93fa);
  });
});

describe('text', () => {
  const words: TextPreprocess = spec({
    kind: 'text',
    encoding: { type: 'hashing', dimensions: 64 },
    output: { type: 'bag' },
  }).input as TextPreprocess;

  it('normalises (NFKC, lower case) and keeps accents, other scripts and emoji as tokens', () => {
    expect(tokenize(words, 'Ｈｅｌｌｏ ﬁne Café, naïve — Москва 東京 👍🏽 ok!')).toEqual([
      'w:hello',
      'w:fine',
      'w:café',
      'w:naïve',
      'w:москва',
      'w:東京',
      'w:👍🏽',
      'w:ok',
    ]);
    // Composed and decomposed accents are one token after NFKC.
    expect(tokenize(words, 'Cafe\u0301')).toEqual(tokenize(words, 'Caf\u00e9'));
  });

  it('adds character n-grams over the padded text', () => {
    expect(tokenize({ lowercase: true, words: false, charNgrams: [2, 3] }, 'Ab')).toEqual([
      'c: a',
      'c:ab',
      'c:b ',
      'c: ab',
      'c:ab ',
    ]);
  });

  it('hashes into a fixed width, L2-normalised, the same for the same text', () => {
    const p = compilePreprocess({ version: 1, input: words });
    const a = p.apply('Win a FREE cruise, win!');
    expect(a).toHaveLength(64);
    expect(Math.hypot(...a)).toBeCloseTo(1, 6);
    expect(Array.from(p.apply('win a free cruise win'))).toEqual(Array.from(a));
    expect(Array.from(p.apply(''))).toEqual(new Array(64).fill(0));
  });

  it('fits a vocabulary with an out-of-vocabulary bucket and TF-IDF weights', () => {
    const draft = spec({
      kind: 'text',
      encoding: { type: 'vocabulary', vocabulary: ['x'] },
      output: { type: 'bag', weighting: 'tfidf', idf: [1, 1], l2Normalize: false },
    }).input as TextPreprocess;
    const fitted = fitText(draft, ['free money now', 'meeting at noon', 'free lunch at noon'], { maxVocabulary: 3 });
    expect(fitted.encoding).toEqual({ type: 'vocabulary', vocabulary: ['w:at', 'w:free', 'w:noon'] });
    const p = compilePreprocess({ version: 1, input: fitted });
    const x = p.apply('free free zebra');
    expect(x).toHaveLength(4);
    const idf = (fitted.output as { idf: number[] }).idf;
    expect(x[1]).toBeCloseTo(2 * idf[1], 6);
    expect(x[3]).toBeCloseTo(idf[3], 6); // 'zebra' is out of vocabulary
    // Every mail has a word outside the vocabulary, so the OOV bucket is in all 3: smoothed idf 1; 'free' is in 2.
    expect(idf[3]).toBeCloseTo(1, 6);
    expect(idf[1]).toBeCloseTo(Math.log(4 / 3) + 1, 6);
  });

  it('gives token ids for sequence models, 0 padding, cut at maxLength', () => {
    const p = compilePreprocess({
      version: 1,
      input: {
        kind: 'text',
        encoding: { type: 'vocabulary', vocabulary: ['w:hi', 'w:there'] },
        output: { type: 'sequence', maxLength: 4 },
      },
    });
    expect(Array.from(p.apply('hi there stranger'))).toEqual([1, 2, 3, 0]);
    expect(p.shape).toEqual([4]);
  });

  it('refuses what is not text with a typed error naming it', () => {
    const p = compilePreprocess({ version: 1, input: words });
    expect(() => p.apply(42)).toThrow(PreprocessInputError);
    expect(() => p.apply(42)).toThrow(/reads text; got number/);
  });
});

describe('tabular', () => {
  const draft = spec({
    kind: 'tabular',
    fields: [
      { name: 'age', type: 'numeric', mean: 0, std: 1 },
      { name: 'constructor', type: 'categorical', vocabulary: ['?'] },
    ],
  }).input;

  it('standardises with fitted statistics and one-hots categories with an OOV bucket; missing values are filled', () => {
    if (draft.kind !== 'tabular') throw new Error('tabular');
    const fitted = fitTabular(draft, [
      { age: 20, constructor: 'a' },
      { age: 40, constructor: 'b' },
      { age: '60', constructor: 'a' },
    ]);
    expect(fitted.fields[0]).toMatchObject({ mean: 40, std: expect.closeTo(16.3299, 3) });
    expect(fitted.fields[1]).toMatchObject({ vocabulary: ['a', 'b'] });
    const p = compilePreprocess({ version: 1, input: fitted });
    expect(p.shape).toEqual([4]);
    expect(Array.from(p.apply({ age: 40, constructor: 'b' }))).toEqual([0, 0, 1, 0]);
    expect(Array.from(p.apply({ constructor: 'zzz' }))).toEqual([0, 0, 0, 1]);
    // `constructor` is a field like any other, never Object.prototype's.
    expect(Array.from(p.apply({}))).toEqual([0, 0, 0, 1]);
  });

  it('names the field of a bad value', () => {
    const p = compilePreprocess({ version: 1, input: draft });
    try {
      p.apply({ age: 'old' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PreprocessInputError);
      expect(e).toMatchObject({ code: 'bad_value', field: 'age' });
    }
    expect(() => p.apply([1, 2])).toThrow(/record of fields \(age, constructor\)/);
    expect(() => p.apply({ age: Number.NaN })).toThrow(/finite/);
  });
});

describe('images', () => {
  const rgba = (w: number, h: number, on: (x: number, y: number) => boolean) => {
    const data = new Uint8ClampedArray(w * h * 4);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        if (on(x, y)) data.fill(255, (y * w + x) * 4, (y * w + x) * 4 + 3), (data[(y * w + x) * 4 + 3] = 255);
    return { data, width: w, height: h };
  };

  it('stretches to the frame: area average when shrinking, luma in [0, 1]', () => {
    const p = compilePreprocess({ version: 1, input: { kind: 'image', width: 2, height: 2, channels: 1 } });
    const x = p.apply(rgba(4, 4, (cx) => cx < 2));
    expect(Array.from(x)).toEqual([1, 0, 1, 0].map((v) => expect.closeTo(v, 5)) as unknown as number[]);
    expect(p.shape).toEqual([2, 2, 1]);
  });

  it('frames ink MNIST-style: a 20-pixel box centred by mass in 28x28, whatever the canvas size', () => {
    const p = compilePreprocess({
      version: 1,
      input: { kind: 'image', width: 28, height: 28, channels: 1, fit: 'center-of-mass', box: 20 },
    });
    // A vertical bar in the top-left corner of a 280x280 canvas.
    const x = p.apply(rgba(280, 280, (cx, cy) => cx >= 10 && cx < 40 && cy >= 5 && cy < 105));
    let mass = 0;
    let mx = 0;
    let my = 0;
    let rows = 0;
    for (let y = 0; y < 28; y++) {
      let any = false;
      for (let c = 0; c < 28; c++) {
        const v = x[y * 28 + c];
        mass += v;
        mx += v * c;
        my += v * y;
        if (v > 0.5) any = true;
      }
      if (any) rows++;
    }
    expect(rows).toBe(20);
    expect(mx / mass).toBeGreaterThan(12.5);
    expect(mx / mass).toBeLessThan(14.5);
    expect(my / mass).toBeGreaterThan(12.5);
    expect(my / mass).toBeLessThan(14.5);
    expect(Array.from(p.apply(rgba(50, 50, () => false))).every((v) => v === 0)).toBe(true);
  });

  it('inverts, standardises per channel and refuses inconsistent pixels', () => {
    const p = compilePreprocess({
      version: 1,
      input: {
        kind: 'image',
        width: 1,
        height: 1,
        channels: 3,
        invert: true,
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
      },
    });
    expect(Array.from(p.apply({ data: new Float32Array([1, 0, 0.5]), width: 1, height: 1, channels: 3 }))).toEqual([
      -1, 1, 0,
    ]);
    expect(() => p.apply({ data: new Uint8ClampedArray(3), width: 1, height: 1 })).toThrow(/needs 4 values; got 3/);
    expect(() => p.apply('a cat')).toThrow(/reads an image/);
  });
});

describe('specs', () => {
  it('refuse combinations that cannot run, naming the field', () => {
    const bad = (input: unknown) => PreprocessSpecSchema.safeParse({ version: 1, input });
    expect(
      bad({ kind: 'text', words: false, encoding: { type: 'hashing', dimensions: 8 }, output: { type: 'bag' } })
        .success,
    ).toBe(false);
    expect(
      bad({
        kind: 'text',
        encoding: { type: 'hashing', dimensions: 8 },
        output: { type: 'bag', weighting: 'tfidf', idf: [1] },
      }).error?.issues[0].message,
    ).toMatch(/8 idf weights/);
    expect(bad({ kind: 'image', width: 2, height: 2, channels: 3, mean: [0] }).error?.issues[0].path).toEqual([
      'input',
      'mean',
    ]);
    expect(
      bad({
        kind: 'tabular',
        fields: [
          { name: 'a', type: 'numeric', mean: 0, std: 1 },
          { name: 'a', type: 'numeric', mean: 0, std: 1 },
        ],
      }).success,
    ).toBe(false);
    expect(
      PreprocessSpecSchema.safeParse({ version: 2, input: { kind: 'image', width: 1, height: 1, channels: 1 } })
        .success,
    ).toBe(false);
  });

  it('say the feature shape the model must accept', () => {
    expect(featureShape(spec({ kind: 'image', width: 28, height: 28, channels: 1 }))).toEqual([28, 28, 1]);
    expect(
      featureShape(
        spec({ kind: 'text', encoding: { type: 'vocabulary', vocabulary: ['a', 'b'] }, output: { type: 'bag' } }),
      ),
    ).toEqual([3]);
  });
});
