/**
 * Secrets the coordinator hands out (admin keys, device tokens) and how they
 * are kept: only a SHA-256 hash is stored, and comparisons are constant-time.
 * A 256-bit random secret needs no slow password hash: there is nothing to
 * brute-force.
 *
 * A secret names its owner so lookups need no scan of hashes:
 * `flk_dev_<deviceId>.<random>` and `flk_admin_<keyId>.<random>`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type SecretKind = 'admin' | 'device';

const PREFIX: Record<SecretKind, string> = { admin: 'flk_admin_', device: 'flk_dev_' };
const ID_PATTERN = /^[A-Za-z0-9_-]{4,64}$/;

/** A short random identifier (device ids, key ids, task ids, round ids). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/**
 * Creates a new random secret for `ownerId`, e.g. `flk_dev_dev_3q….Zx…`.
 * @example
 * const token = newSecret('device', deviceId);
 */
export function newSecret(kind: SecretKind, ownerId: string): string {
  if (!ID_PATTERN.test(ownerId)) throw new Error(`invalid owner id for a secret: ${ownerId}`);
  return `${PREFIX[kind]}${ownerId}.${randomBytes(32).toString('base64url')}`;
}

/** Splits a presented secret into kind and owner id, or null when it is not one of ours. */
export function parseSecret(secret: string): { kind: SecretKind; ownerId: string } | null {
  for (const kind of ['admin', 'device'] as const) {
    if (!secret.startsWith(PREFIX[kind])) continue;
    const rest = secret.slice(PREFIX[kind].length);
    const dot = rest.lastIndexOf('.');
    if (dot <= 0) return null;
    const ownerId = rest.slice(0, dot);
    const random = rest.slice(dot + 1);
    if (!ID_PATTERN.test(ownerId) || !/^[A-Za-z0-9_-]{43}$/.test(random)) return null;
    return { kind, ownerId };
  }
  return null;
}

/** SHA-256 hex of a secret: what the store keeps. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret against a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
