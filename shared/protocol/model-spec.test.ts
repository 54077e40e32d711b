import { describe, expect, it } from 'vitest';
import { ModelSpecSchema, OutputSpecSchema } from './model-spec.ts';

describe('ModelSpecSchema', () => {
  it('defaults the output to multiclass and a binary threshold to 0.5', () => {
    expect(ModelSpecSchema.parse({ version: 1 }).output).toEqual({ kind: 'multiclass' });
    expect(OutputSpecSchema.parse({ kind: 'binary' })).toEqual({ kind: 'binary', threshold: 0.5 });
  });

  it('keeps a text preprocessing spec with its defaults filled in', () => {
    const spec = ModelSpecSchema.parse({
      version: 1,
      preprocess: {
        version: 1,
        input: { kind: 'text', encoding: { type: 'hashing', dimensions: 64 }, output: { type: 'bag' } },
      },
      output: { kind: 'binary', threshold: 0.7, labels: ['ham', 'spam'] },
      frozenLayers: ['dense_1'],
    });
    expect(spec.preprocess?.input.kind).toBe('text');
    expect(spec.output).toEqual({ kind: 'binary', threshold: 0.7, labels: ['ham', 'spam'] });
  });

  it.each([
    [{ version: 2 }],
    [{ version: 1, output: { kind: 'binary', threshold: 1 } }],
    [{ version: 1, output: { kind: 'binary', threshold: 0 } }],
    [{ version: 1, output: { kind: 'multilabel' } }],
    [{ version: 1, output: { kind: 'ordinal' } }],
    [{ version: 1, extra: true }],
    [
      {
        version: 1,
        preprocess: {
          version: 1,
          input: { kind: 'text', words: false, encoding: { type: 'hashing', dimensions: 8 }, output: { type: 'bag' } },
        },
      },
    ],
  ])('refuses %j', (bad) => {
    expect(ModelSpecSchema.safeParse(bad).success).toBe(false);
  });
});
