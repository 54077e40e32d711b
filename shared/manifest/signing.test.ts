import { describe, expect, it } from 'vitest';
import { bytesToBase64 } from './bytes.ts';
import { sha256Hex, verifySha256 } from './hash.ts';
import { ManifestError, type ManifestErrorCode } from './manifest-error.ts';
import type { Manifest, SignedManifest } from './schema.ts';
import { sampleManifest } from './sample-manifest.fixture.ts';
import {
  checkGeneration,
  exportKeyPair,
  exportPrivateKey,
  exportPublicKey,
  generateSigningKeyPair,
  importKeyPair,
  importPrivateKey,
  importPublicKey,
  keyIdOf,
  signManifest,
  verifyManifest,
} from './signing.ts';

async function codeOf(p: Promise<unknown>): Promise<ManifestErrorCode | 'resolved' | 'other'> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e instanceof ManifestError ? e.code : 'other';
  }
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

// Node 20's WebCrypto supports { name: 'Ed25519' }; these run on it directly.
const keys = await generateSigningKeyPair();
const keyId = await keyIdOf(keys.publicKey);
const publicKey = await exportPublicKey(keys.publicKey);

describe('Ed25519 manifest signatures', () => {
  it('exports a raw 32-byte public key and a 16-hex key id that is stable across import', async () => {
    expect(publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(await keyIdOf(publicKey)).toBe(keyId);
    expect(await keyIdOf(await importPublicKey(publicKey))).toBe(keyId);
    const other = await generateSigningKeyPair();
    expect(await keyIdOf(other.publicKey)).not.toBe(keyId);
  });

  it('signs and verifies a round trip, also after JSON transport and with keys in another order', async () => {
    const signed = await signManifest(sampleManifest(), keys.privateKey, keyId);
    expect(signed.keyId).toBe(keyId);
    expect(await verifyManifest(signed, keys.publicKey)).toEqual(sampleManifest());
    expect(await verifyManifest(clone(signed), publicKey)).toEqual(sampleManifest());
    const m = signed.manifest;
    const reordered = { ...signed, manifest: Object.fromEntries(Object.entries(m).reverse()) };
    expect(await verifyManifest(reordered, publicKey)).toEqual(sampleManifest());
  });

  it('rejects a manifest with any single field changed', async () => {
    const signed = await signManifest(sampleManifest(), keys.privateKey, keyId);
    const tamperings: Array<[string, (m: Manifest) => void]> = [
      [
        'version',
        (m) => {
          m.version = 2;
        },
      ],
      [
        'generation',
        (m) => {
          m.generation = 8;
        },
      ],
      [
        'shard hash',
        (m) => {
          m.variants[0].shards[1].hash = '9'.repeat(64);
        },
      ],
      [
        'shard size and total together',
        (m) => {
          m.variants[1].shards[0].size = 81;
          m.variants[1].totalBytes = 81;
        },
      ],
      [
        'variant sha256',
        (m) => {
          m.variants[1].sha256 = '0'.repeat(64);
        },
      ],
      [
        'topology hash',
        (m) => {
          m.modelTopologyHash = '1'.repeat(64);
        },
      ],
      [
        'label',
        (m) => {
          m.labels![3] = 'three';
        },
      ],
      [
        'rollout removed',
        (m) => {
          delete m.rollout;
        },
      ],
      [
        'field added',
        (m) => {
          (m as Record<string, unknown>).note = 'x';
        },
      ],
      [
        'app',
        (m) => {
          m.app = 'digitz';
        },
      ],
    ];
    for (const [name, tamper] of tamperings) {
      const forged: SignedManifest = clone(signed);
      tamper(forged.manifest);
      expect(await codeOf(verifyManifest(forged, publicKey)), name).toBe('bad_signature');
    }
  });

  it('rejects a corrupted or malformed signature', async () => {
    const signed = await signManifest(sampleManifest(), keys.privateKey, keyId);
    const sig = Uint8Array.from(atob(signed.signature), (c) => c.charCodeAt(0));
    sig[10] ^= 0x40;
    expect(await codeOf(verifyManifest({ ...signed, signature: bytesToBase64(sig) }, publicKey))).toBe('bad_signature');
    expect(await codeOf(verifyManifest({ ...signed, signature: 'AAAA' }, publicKey))).toBe('bad_signature');
    expect(await codeOf(verifyManifest({ ...signed, signature: 'not base64' }, publicKey))).toBe('bad_signature');
  });

  it('rejects a manifest signed by another key, whatever keyId it claims', async () => {
    const attacker = await generateSigningKeyPair();
    const own = await signManifest(sampleManifest(), attacker.privateKey, await keyIdOf(attacker.publicKey));
    expect(await codeOf(verifyManifest(own, publicKey))).toBe('wrong_key');
    const spoofed = await signManifest(sampleManifest(), attacker.privateKey, keyId);
    expect(await codeOf(verifyManifest(spoofed, publicKey))).toBe('bad_signature');
  });

  it('rejects stale generations, accepts the same or newer', async () => {
    const signed = await signManifest(sampleManifest(), keys.privateKey, keyId); // generation 7
    expect(await codeOf(verifyManifest(signed, publicKey, { newestSeenGeneration: 8 }))).toBe('stale_generation');
    expect(await codeOf(verifyManifest(signed, publicKey, { newestSeenGeneration: 7 }))).toBe('resolved');
    expect(await codeOf(verifyManifest(signed, publicKey, { newestSeenGeneration: 1 }))).toBe('resolved');
    expect(() => checkGeneration(sampleManifest(), 100)).toThrow(/older than generation 100/);
    expect(() => checkGeneration(sampleManifest(), 0)).not.toThrow();
  });

  it('rejects a validly signed manifest for another app when the app is given', async () => {
    const signed = await signManifest(sampleManifest(), keys.privateKey, keyId);
    expect(await codeOf(verifyManifest(signed, publicKey, { app: 'digits' }))).toBe('resolved');
    expect(await codeOf(verifyManifest(signed, publicKey, { app: 'faces' }))).toBe('bad_schema');
  });

  it('refuses to sign an invalid manifest and rejects envelopes that are not signed manifests', async () => {
    const bad = { ...sampleManifest(), generation: 0 };
    expect(await codeOf(signManifest(bad, keys.privateKey, keyId))).toBe('bad_schema');
    for (const junk of [null, 'x', { manifest: 'x', signature: 'AA==', keyId }, { manifest: {}, keyId }]) {
      expect(await codeOf(verifyManifest(junk, publicKey)), JSON.stringify(junk)).toBe('bad_schema');
    }
    expect(await codeOf(importPublicKey('AAAA'))).toBe('wrong_key');
  });

  it('persists a key pair: pkcs8/raw export and import sign and verify interchangeably', async () => {
    const stored = await exportKeyPair(keys);
    expect(stored).toMatchObject({ algorithm: 'Ed25519', keyId, publicKey });
    const loaded = await importKeyPair(clone(stored));
    expect(loaded.keyId).toBe(keyId);
    const signed = await signManifest(sampleManifest(), loaded.privateKey, loaded.keyId);
    expect(await verifyManifest(signed, keys.publicKey)).toEqual(sampleManifest());
    const viaPrivate = await importPrivateKey(await exportPrivateKey(keys.privateKey));
    expect(await verifyManifest(await signManifest(sampleManifest(), viaPrivate, keyId), publicKey)).toEqual(
      sampleManifest(),
    );
  });

  it('refuses a stored key pair whose halves do not match', async () => {
    const stored = await exportKeyPair(keys);
    const other = await exportKeyPair(await generateSigningKeyPair());
    expect(await codeOf(importKeyPair({ ...stored, publicKey: other.publicKey, keyId: other.keyId }))).toBe(
      'wrong_key',
    );
    expect(await codeOf(importKeyPair({ ...stored, keyId: other.keyId }))).toBe('wrong_key');
    expect(await codeOf(importKeyPair({ ...stored, privateKey: 'AAAA' }))).toBe('wrong_key');
  });
});

describe('end to end: signed manifest over real shard bytes', () => {
  it('accepts the real files and rejects a tampered one by hash', async () => {
    const shards = [new Uint8Array(1000).map((_, i) => i % 251), new Uint8Array(24).fill(7)];
    const whole = new Uint8Array(1024);
    whole.set(shards[0], 0);
    whole.set(shards[1], 1000);
    const manifest: Manifest = {
      ...sampleManifest(),
      variants: [
        {
          encoding: 'fp32',
          totalBytes: 1024,
          sha256: await sha256Hex(whole),
          shards: await Promise.all(shards.map(async (s) => ({ hash: await sha256Hex(s), size: s.length }))),
        },
      ],
    };
    const keys = await generateSigningKeyPair();
    const signed = clone(await signManifest(manifest, keys.privateKey, await keyIdOf(keys.publicKey)));
    const trusted = await verifyManifest(signed, await exportPublicKey(keys.publicKey));
    const variant = trusted.variants[0];
    for (const [i, s] of shards.entries()) await verifySha256(s, variant.shards[i].hash);
    await verifySha256(whole, variant.sha256);
    const tampered = shards[1].slice();
    tampered[0] = 8;
    expect(await codeOf(verifySha256(tampered, variant.shards[1].hash))).toBe('hash_mismatch');
  });
});
