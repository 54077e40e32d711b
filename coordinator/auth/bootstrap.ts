/**
 * First-start secrets: the admin key and the manifest signing key pair.
 * Both are created once and kept in the store (the admin key only as a hash;
 * the signing key as PKCS#8, since the coordinator must sign with it).
 */
import { exportKeyPair, generateSigningKeyPair, importKeyPair, type StoredSigningKey } from '../../shared/manifest/index.ts';
import type { Store } from '../store/index.ts';
import { hashSecret, newSecret } from './secrets.ts';

const SIGNING_KEY_SETTING = 'manifest-signing-key';

export interface SigningKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  keyId: string;
  /** Raw Ed25519 public key, base64 (what `/v1/keys/manifest` serves). */
  publicKeyBase64: string;
}

/**
 * Loads the manifest signing key, creating it on first start. Concurrent first
 * starts agree on one key (first writer wins).
 */
export async function ensureSigningKey(store: Store): Promise<SigningKey> {
  let stored = (await store.getSetting(SIGNING_KEY_SETTING)) as StoredSigningKey | null;
  if (!stored) {
    const fresh = await exportKeyPair(await generateSigningKeyPair());
    stored = (await store.setSettingIfAbsent(SIGNING_KEY_SETTING, { ...fresh })) as StoredSigningKey;
  }
  const pair = await importKeyPair(stored);
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
  await store.appendAudit({ actor: 'system', action: 'admin-key.create', target: keyId, details: { label: 'created on first start' } });
  return key;
}
