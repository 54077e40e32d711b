/**
 * Ed25519 keys and manifest signatures through WebCrypto (`crypto.subtle`),
 * the same code in Node 20, browsers and workers.
 *
 * The signature covers a domain-separation prefix plus the canonical JSON of
 * the manifest, so a signature made for a manifest cannot be replayed as a
 * signature over any other kind of message the key might ever sign.
 */
import { PROTOCOL_VERSION } from '../protocol/fields.ts';
import { base64ToBytes, bytesToBase64, bytesToHex, cryptoView } from './bytes.ts';
import { CanonicalJsonError, canonicalJson } from './canonical-json.ts';
import { ManifestError } from './manifest-error.ts';
import { ManifestSchema, type Manifest, type ManifestPurpose, type SignedManifest } from './schema.ts';

const ED25519 = { name: 'Ed25519' } as const;
const SIGNING_CONTEXT = 'flock-manifest-v1\n';
const subtle = () => globalThis.crypto.subtle;

/**
 * A fresh, extractable Ed25519 key pair (extractable so the coordinator can persist it).
 *
 * @example
 * const keys = await generateSigningKeyPair();
 * const stored = await exportKeyPair(keys); // write to the data directory
 */
export async function generateSigningKeyPair(): Promise<CryptoKeyPair> {
  return (await subtle().generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/**
 * The raw 32-byte public key, base64 (what `GET /v1/keys/manifest` serves and apps pin).
 *
 * @example
 * const publicKey = await exportPublicKey(keys.publicKey); // 44 base64 chars
 */
export async function exportPublicKey(publicKey: CryptoKey): Promise<string> {
  return bytesToBase64(new Uint8Array(await subtle().exportKey('raw', publicKey)));
}

/**
 * Imports a raw 32-byte Ed25519 public key given as base64.
 * Throws `ManifestError('wrong_key')` when the text is not such a key.
 *
 * @example
 * const key = await importPublicKey(pinnedKeyBase64);
 */
export async function importPublicKey(base64: string): Promise<CryptoKey> {
  const raw = base64ToBytes(base64);
  if (raw === null || raw.length !== 32) {
    throw new ManifestError(
      'wrong_key',
      'not an Ed25519 public key: expected 32 raw bytes as base64 (44 chars), as served by GET /v1/keys/manifest',
    );
  }
  return subtle().importKey('raw', raw, ED25519, true, ['verify']);
}

/**
 * The private key as PKCS#8, base64, for the coordinator's key file. Keep it secret.
 *
 * @example
 * const privateKey = await exportPrivateKey(keys.privateKey);
 */
export async function exportPrivateKey(privateKey: CryptoKey): Promise<string> {
  return bytesToBase64(new Uint8Array(await subtle().exportKey('pkcs8', privateKey)));
}

/**
 * Imports a PKCS#8 (base64) Ed25519 private key, non-extractable, for signing.
 *
 * @example
 * const privateKey = await importPrivateKey(stored.privateKey);
 */
export async function importPrivateKey(base64: string): Promise<CryptoKey> {
  const der = base64ToBytes(base64);
  if (der === null) throw new ManifestError('wrong_key', 'private key is not base64 PKCS#8; was the key file edited?');
  try {
    return await subtle().importKey('pkcs8', der, ED25519, false, ['sign']);
  } catch (cause) {
    throw new ManifestError('wrong_key', `private key is not an Ed25519 PKCS#8 key: ${String(cause)}`);
  }
}

/**
 * Short id of a public key: the first 16 hex digits of SHA-256 over its raw bytes.
 *
 * @example
 * const keyId = await keyIdOf(keys.publicKey); // e.g. '3f9c0a1b22d4e5f6'
 */
export async function keyIdOf(publicKey: CryptoKey | string): Promise<string> {
  const raw =
    typeof publicKey === 'string'
      ? new Uint8Array(await subtle().exportKey('raw', await importPublicKey(publicKey)))
      : new Uint8Array(await subtle().exportKey('raw', publicKey));
  const digest = await subtle().digest('SHA-256', raw);
  return bytesToHex(new Uint8Array(digest)).slice(0, 16);
}

/** A key pair as the coordinator stores it. */
export type StoredSigningKey = { algorithm: 'Ed25519'; keyId: string; publicKey: string; privateKey: string };

/**
 * Serializes a key pair for storage.
 *
 * @example
 * await writeFile(path, JSON.stringify(await exportKeyPair(await generateSigningKeyPair())), { mode: 0o600 });
 */
export async function exportKeyPair(keys: CryptoKeyPair): Promise<StoredSigningKey> {
  return {
    algorithm: 'Ed25519',
    keyId: await keyIdOf(keys.publicKey),
    publicKey: await exportPublicKey(keys.publicKey),
    privateKey: await exportPrivateKey(keys.privateKey),
  };
}

/**
 * Loads a stored key pair and proves the halves belong together (a test
 * signature), so a mismatched key file fails at start-up, not at a client.
 *
 * @example
 * const { privateKey, publicKey, keyId } = await importKeyPair(JSON.parse(await readFile(path, 'utf8')));
 */
export async function importKeyPair(
  stored: StoredSigningKey,
): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; keyId: string }> {
  const publicKey = await importPublicKey(stored.publicKey);
  const privateKey = await importPrivateKey(stored.privateKey);
  const keyId = await keyIdOf(publicKey);
  const probe = new TextEncoder().encode(`${SIGNING_CONTEXT}key-check`);
  const signature = await subtle().sign(ED25519, privateKey, probe);
  if (!(await subtle().verify(ED25519, publicKey, signature, probe))) {
    throw new ManifestError(
      'wrong_key',
      'stored private and public keys do not form a pair; restore the key file or generate a new pair',
    );
  }
  if (stored.keyId !== keyId) {
    throw new ManifestError(
      'wrong_key',
      `stored keyId ${stored.keyId} does not match the public key (its id is ${keyId})`,
    );
  }
  return { privateKey, publicKey, keyId };
}

/**
 * The exact bytes a manifest signature covers: a context prefix and the canonical JSON.
 *
 * @example
 * const bytes = manifestSigningBytes(manifest);
 */
export function manifestSigningBytes(manifest: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(SIGNING_CONTEXT + canonicalJson(manifest));
}

function badSchema(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>, what: string): ManifestError {
  const list = issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  const first = list[0];
  return new ManifestError(
    'bad_schema',
    `${what}: ${first ? `${first.path || '(root)'}: ${first.message}` : 'invalid'}`,
    { issues: list },
  );
}

/**
 * Validates and signs a manifest. Throws `ManifestError('bad_schema')` for an invalid one.
 *
 * @example
 * const signed = await signManifest(manifest, keys.privateKey, await keyIdOf(keys.publicKey));
 */
export async function signManifest(manifest: Manifest, privateKey: CryptoKey, keyId: string): Promise<SignedManifest> {
  const parsed = ManifestSchema.safeParse(manifest);
  if (!parsed.success) throw badSchema(parsed.error.issues, 'refusing to sign an invalid manifest');
  const signature = await subtle().sign(ED25519, privateKey, manifestSigningBytes(parsed.data));
  return { manifest: parsed.data, signature: bytesToBase64(new Uint8Array(signature)), keyId };
}

/**
 * Throws `ManifestError('stale_generation')` when `manifest` is older than the
 * newest generation this device has accepted for the app. Equal generations
 * pass: refetching the current manifest is normal.
 *
 * @example
 * checkGeneration(manifest, state.newestGeneration ?? 0);
 */
export function checkGeneration(manifest: Pick<Manifest, 'app' | 'generation'>, newestSeenGeneration: number): void {
  if (manifest.generation < newestSeenGeneration) {
    throw new ManifestError(
      'stale_generation',
      `manifest generation ${manifest.generation} for app "${manifest.app}" is older than generation ${newestSeenGeneration} already accepted; refusing a replayed manifest (keep the current model)`,
      { generation: manifest.generation, newestSeenGeneration },
    );
  }
}

export type VerifyManifestOptions = {
  /** Refuse manifests older than this generation (see `checkGeneration`). */
  newestSeenGeneration?: number;
  /** Refuse a manifest for another app (a validly signed manifest replayed across apps). */
  app?: string;
  /**
   * The role the caller will install the manifest in (default 'model'): a
   * shadow manifest is refused as the app's model and a model manifest as a
   * shadow, however validly signed (`ManifestError('wrong_purpose')`).
   */
  purpose?: ManifestPurpose;
};

/**
 * The role a manifest was issued for. Shadow manifests signed before
 * `purpose` existed carry `rollout.cohort: 'shadow'` only; they are shadows too.
 * @example
 * purposeOf(manifest) // 'model' for a registry or cohort manifest, 'shadow' for a rollout's shadow
 */
export function purposeOf(manifest: Pick<Manifest, 'purpose' | 'rollout'>): ManifestPurpose {
  return manifest.purpose ?? (manifest.rollout?.cohort === 'shadow' ? 'shadow' : 'model');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Verifies a signed manifest against the pinned public key and returns the
 * manifest. The signature is checked over the manifest exactly as received,
 * before the schema, so the schema never rewrites what was signed.
 * Throws `ManifestError` with code 'bad_schema', 'wrong_key', 'bad_signature' or 'stale_generation'.
 *
 * @example
 * const manifest = await verifyManifest(await res.json(), pinnedKey, { app: 'digits', newestSeenGeneration: 7 });
 */
export async function verifyManifest(
  signed: unknown,
  publicKey: CryptoKey | string,
  options: VerifyManifestOptions = {},
): Promise<Manifest> {
  if (
    !isRecord(signed) ||
    !isRecord(signed.manifest) ||
    typeof signed.signature !== 'string' ||
    typeof signed.keyId !== 'string'
  ) {
    throw new ManifestError(
      'bad_schema',
      'not a signed manifest: expected { manifest: {...}, signature: base64, keyId }',
    );
  }
  const key = typeof publicKey === 'string' ? await importPublicKey(publicKey) : publicKey;
  const expectedKeyId = await keyIdOf(key);
  if (signed.keyId !== expectedKeyId) {
    throw new ManifestError(
      'wrong_key',
      `manifest is signed by key ${signed.keyId}, but the trusted key is ${expectedKeyId}; if the coordinator rotated its key, pin the new public key`,
      { keyId: signed.keyId, expectedKeyId },
    );
  }
  const signature = base64ToBytes(signed.signature);
  if (signature === null || signature.length !== 64) {
    throw new ManifestError('bad_signature', 'manifest signature is not a 64-byte Ed25519 signature in base64');
  }
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = manifestSigningBytes(signed.manifest);
  } catch (e) {
    if (e instanceof CanonicalJsonError)
      throw new ManifestError('bad_schema', `manifest is not plain JSON: ${e.message}`);
    throw e;
  }
  if (!(await subtle().verify(ED25519, key, cryptoView(signature), bytes))) {
    throw new ManifestError(
      'bad_signature',
      'manifest signature does not verify: the manifest was altered or not signed by the trusted key; keep the current model',
    );
  }
  const parsed = ManifestSchema.safeParse(signed.manifest);
  if (!parsed.success) {
    const raw = signed.manifest.protocolVersion;
    const hint =
      typeof raw === 'number' && raw > PROTOCOL_VERSION
        ? ` (manifest speaks protocol ${raw}, this SDK ${PROTOCOL_VERSION}: update the SDK)`
        : '';
    throw badSchema(parsed.error.issues, `signed manifest is invalid${hint}`);
  }
  const manifest = parsed.data;
  if (options.app !== undefined && manifest.app !== options.app) {
    throw new ManifestError('bad_schema', `manifest is for app "${manifest.app}", expected "${options.app}"`);
  }
  const wanted = options.purpose ?? 'model';
  const issued = purposeOf(manifest);
  if (issued !== wanted) {
    throw new ManifestError(
      'wrong_purpose',
      `manifest generation ${manifest.generation} for app "${manifest.app}" was issued as a ${issued} manifest, not a ${wanted} one; refusing to install it as the ${wanted === 'model' ? "app's model" : 'shadow'} (keep the current model)`,
      { purpose: issued, expected: wanted },
    );
  }
  if (options.newestSeenGeneration !== undefined) checkGeneration(manifest, options.newestSeenGeneration);
  return manifest;
}
