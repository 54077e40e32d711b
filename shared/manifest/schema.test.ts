import { describe, expect, it } from 'vitest';
import { sampleManifest } from './sample-manifest.fixture.ts';
import { ManifestPublicKeySchema, ManifestSchema, SignedManifestSchema, type Manifest } from './schema.ts';

describe('ManifestSchema', () => {
  it('accepts a full manifest unchanged', () => {
    const m = sampleManifest();
    expect(ManifestSchema.parse(m)).toEqual(m);
  });

  it('refuses inconsistent or malformed manifests', () => {
    const cases: Array<[string, (m: Manifest) => unknown]> = [
      ['totalBytes != sum of shards', (m) => ({ ...m, variants: [{ ...m.variants[0], totalBytes: 301 }] })],
      ['duplicate encodings', (m) => ({ ...m, variants: [m.variants[0], m.variants[0]] })],
      ['no variants', (m) => ({ ...m, variants: [] })],
      ['variant without shards', (m) => ({ ...m, variants: [{ ...m.variants[1], shards: [], totalBytes: 0 }] })],
      ['uppercase hash', (m) => ({ ...m, modelTopologyHash: 'A'.repeat(64) })],
      ['short hash', (m) => ({ ...m, modelTopologyHash: 'a'.repeat(63) })],
      ['generation 0', (m) => ({ ...m, generation: 0 })],
      ['fractional version', (m) => ({ ...m, version: 1.5 })],
      ['zero dimension', (m) => ({ ...m, inputSpec: { shape: [null, 0], dtype: 'float32' } })],
      ['bad dtype', (m) => ({ ...m, inputSpec: { shape: [1], dtype: 'float16' } })],
      ['unknown key', (m) => ({ ...m, extra: 1 })],
      ['topk is not a weight encoding', (m) => ({ ...m, variants: [{ ...m.variants[1], encoding: 'topk' }] })],
    ];
    for (const [name, mutate] of cases)
      expect(ManifestSchema.safeParse(mutate(sampleManifest())).success, name).toBe(false);
  });

  it('checks the envelope and the public-key document', () => {
    const signed = { manifest: sampleManifest(), signature: 'A'.repeat(86) + '==', keyId: '0123456789abcdef' };
    expect(SignedManifestSchema.safeParse(signed).success).toBe(true);
    expect(SignedManifestSchema.safeParse({ ...signed, signature: 'not base64!' }).success).toBe(false);
    const key = { algorithm: 'Ed25519', publicKey: 'A'.repeat(43) + '=', keyId: 'k' };
    expect(ManifestPublicKeySchema.safeParse(key).success).toBe(true);
    expect(ManifestPublicKeySchema.safeParse({ ...key, algorithm: 'RSA' }).success).toBe(false);
    expect(ManifestPublicKeySchema.safeParse({ ...key, publicKey: 'AAAA' }).success).toBe(false);
  });
});
