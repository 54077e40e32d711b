import { describe, expect, it } from 'vitest';
import { chooseVariant } from './model-loader.ts';
import { FlockError } from './flock-error.ts';

const variant = (encoding: 'fp32' | 'fp16' | 'int8') => ({
  encoding,
  totalBytes: 1,
  sha256: 'a'.repeat(64),
  shards: [{ hash: 'b'.repeat(64), size: 1 }],
});

describe('chooseVariant', () => {
  it('takes int8 on slow backends and fp32 on fast ones when both are offered', () => {
    const manifest = { variants: [variant('fp32'), variant('fp16'), variant('int8')] };
    expect(chooseVariant(manifest, { slowBackend: true }).encoding).toBe('int8');
    expect(chooseVariant(manifest, { slowBackend: false }).encoding).toBe('fp32');
  });

  it('falls back to what the manifest offers, fp16 first', () => {
    expect(chooseVariant({ variants: [variant('fp32'), variant('fp16')] }, { slowBackend: true }).encoding).toBe(
      'fp16',
    );
    expect(chooseVariant({ variants: [variant('int8'), variant('fp16')] }, { slowBackend: false }).encoding).toBe(
      'fp16',
    );
    expect(chooseVariant({ variants: [variant('int8')] }, { slowBackend: false }).encoding).toBe('int8');
  });

  it('honours a forced variant and explains when it is missing', () => {
    expect(
      chooseVariant({ variants: [variant('fp32'), variant('int8')] }, { slowBackend: true, variant: 'fp32' }).encoding,
    ).toBe('fp32');
    expect(() => chooseVariant({ variants: [variant('fp32')] }, { slowBackend: true, variant: 'int8' })).toThrow(
      FlockError,
    );
    expect(() => chooseVariant({ variants: [variant('fp32')] }, { slowBackend: true, variant: 'int8' })).toThrow(
      /offers fp32 but the variant option asks for 'int8'/,
    );
  });
});
