/**
 * First-start secrets: the admin key and the manifest signing key pair.
 * The admin key is kept only as a hash in the store. The signing key lives in
 * its own 0600 file (signing-key-file.ts); the store keeps only its public
 * half, so that processes sharing one store can tell they sign alike.
 */
import {
  exportKeyPair,
  generateSigningKeyPair,
  importKeyPair,
  type StoredSigningKey,
} from '../../shared/manifest/index.ts';
import type { Store } from '../store/index.ts';
import { hashSecret, newSecret } from './secrets.ts';
import { readSigningKeyFile, SigningKeyFileError, writeSigningKeyFileIfAbsent } from './signing-key-file.ts';

/** Where versions before 0.2 kept the whole key pair; now scrubbed after the move to a file. */
const LEGACY_SIGNING_KEY_SETTING = 'manifest-signing-key';
const PUBLIC_KEY_SETTING = 'manifest-signing-public-key';

export interface SigningKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  keyId: string;
  /** Raw Ed25519 public key, base64 (what `/v1/keys/manifest` serves). */
  publicKeyBase64: string;
}

type PublicHalf = { keyId: string; publicKey: string };

function isStoredKey(v: unknown): v is StoredSigningKey {
  return (
    !!v &&
    typeof (v as StoredSigningKey).privateKey === 'string' &&
    typeof (v as StoredSigningKey).publicKey === 'string'
  );
}

/**
 * Loads the manifest signing key from `keyFile`, creating it on first start.
 * A key an older version kept in the store is moved into the file and its
 * private half removed from the store. Concurrent first starts agree on one
 * key (first file wins).
 *
 * @throws SigningKeyFileError 'missing' when the store's manifests were signed
 *   with a key this process has no file for, 'wrong_key' when the file holds
 *   a different key than the store's other processes use.
 */
export async function ensureSigningKey(store: Store, keyFile: string): Promise<SigningKey> {
  let stored = await readSigningKeyFile(keyFile);
  const legacy = await store.getSetting(LEGACY_SIGNING_KEY_SETTING);
  if (!stored) {
    if (isStoredKey(legacy)) stored = await writeSigningKeyFileIfAbsent(keyFile, legacy);
    else {
      const known = (await store.getSetting(PUBLIC_KEY_SETTING)) as PublicHalf | null;
      if (known) {
        throw new SigningKeyFileError(
          'missing',
          `this store's manifests are signed with key ${known.keyId}, but ${keyFile} does not exist: copy the key file from the first coordinator there (or point --signing-key-file at it)`,
        );
      }
      stored = await writeSigningKeyFileIfAbsent(keyFile, await exportKeyPair(await generateSigningKeyPair()));
    }
  }
  const pair = await importKeyPair(stored);
  const half = (await store.setSettingIfAbsent(PUBLIC_KEY_SETTING, {
    keyId: pair.keyId,
    publicKey: stored.publicKey,
  })) as PublicHalf;
  if (half.keyId !== pair.keyId) {
    throw new SigningKeyFileError(
      'wrong_key',
      `${keyFile} holds signing key ${pair.keyId}, but this store's other coordinators sign with ${half.keyId}: give every process the same key file`,
    );
  }
  if (isStoredKey(legacy) && legacy.keyId !== pair.keyId) {
    throw new SigningKeyFileError(
      'wrong_key',
      `${keyFile} holds signing key ${pair.keyId}, but this store still holds key ${legacy.keyId} from an older version: remove the file to move the stored key into it`,
    );
  }
  if (isStoredKey(legacy)) await store.setSetting(LEGACY_SIGNING_KEY_SETTING, { movedTo: 'file', keyId: pair.keyId });
  return { ...pair, publicKeyBase64: stored.publicKey };
}

/**
 * Creates the first admin key when none exists and returns it (to print once);
 * returns null when keys already exist. An env-provided key is accepted
 * without being stored (see `auth/middleware.ts`).
 */
export async function ensureAdminKey(store: Store): Promise<string | null> {
  if ((await store.listAdminKeys()).some((k) => k.revokedAt === null)) return null;
  const claimed = await store.setSettingIfAbsent('admin-bootstrap', { at: new Date().toISOString() });
  void claimed;
  const keyId = 'key_initial';
  const key = newSecret('admin', keyId);
  try {
    await store.createAdminKey({ id: keyId, keyHash: hashSecret(key), label: 'created on first start' });
  } catch {
    // Another process created it first; it printed the key.
    return null;
  }
  await store.appendAudit({
    actor: 'system',
    action: 'admin-key.create',
    target: keyId,
    details: { label: 'created on first start' },
  });
  return key;
}
