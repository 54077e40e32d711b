import { describe, expect, it } from 'vitest';
import { parseUpdateMetaHeader } from './parse.ts';
import {
  UPDATE_META_MAX_CHARS,
  UpdateMetaSchema,
  UpdateReceiptSchema,
  encodeUpdateMeta,
  type UpdateMeta,
} from './updates.ts';

const meta: UpdateMeta = {
  roundId: 'r1',
  deviceId: 'd1',
  numExamples: 120,
  preClipNorm: 3.25,
  trainLoss: 0.41,
  trainAccuracy: 0.88,
  epochs: 2,
  encoding: 'int8',
  backend: 'wasm',
  durationMs: 5321,
};

describe('update metadata', () => {
  it('round-trips through the header encoding', () => {
    const header = encodeUpdateMeta(meta);
    expect(/^[\x20-\x7e]+$/.test(header)).toBe(true);
    const r = parseUpdateMetaHeader(header);
    expect(r).toEqual({ ok: true, value: meta });
  });

  it('refuses zero examples, negative norms, NaN and unknown encodings', () => {
    for (const patch of [
      { numExamples: 0 },
      { preClipNorm: -1 },
      { preClipNorm: Number.NaN },
      { encoding: 'int4' },
      { epochs: 0 },
      { trainAccuracy: 1.5 },
    ]) {
      expect(UpdateMetaSchema.safeParse({ ...meta, ...patch }).success, JSON.stringify(patch)).toBe(false);
    }
    expect(() => encodeUpdateMeta({ ...meta, numExamples: 0 })).toThrow();
  });

  it('answers a missing, oversized, non-JSON or invalid header with an error body', () => {
    const missing = parseUpdateMetaHeader(undefined);
    expect(missing.ok || missing.error.error.code).toBe('bad_request');
    const huge = parseUpdateMetaHeader(`{"x":"${'a'.repeat(UPDATE_META_MAX_CHARS)}"}`);
    expect(huge.ok || huge.error.error.message).toMatch(/limit/);
    const garbage = parseUpdateMetaHeader('{roundId:');
    expect(garbage.ok || garbage.error.error.code).toBe('bad_request');
    const invalid = parseUpdateMetaHeader(JSON.stringify({ ...meta, numExamples: 0 }));
    expect(invalid.ok || invalid.error.error.code).toBe('validation_failed');
  });

  it('validates receipts: accepted is always true, duplicate a boolean', () => {
    const receipt = {
      roundId: 'r1',
      deviceId: 'd1',
      accepted: true,
      duplicate: false,
      receivedAt: '2025-01-01T00:00:00.000Z',
    };
    expect(UpdateReceiptSchema.parse(receipt)).toEqual(receipt);
    expect(UpdateReceiptSchema.safeParse({ ...receipt, accepted: false }).success).toBe(false);
    expect(UpdateReceiptSchema.safeParse({ ...receipt, duplicate: 'no' }).success).toBe(false);
  });
});
