/**
 * The manifest signing key at rest: its own 0600 file, never a database row.
 * A backup tool that dumps the database gets only the public half (kept as
 * a setting so that every process sharing the store can check it holds the
 * same key). First starts race through an exclusive link: one file wins.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { StoredSigningKey } from '../../shared/manifest/index.ts';

export const SIGNING_KEY_FILE = 'manifest-signing-key.json';

export class SigningKeyFileError extends Error {
  override readonly name = 'SigningKeyFileError';
  constructor(
    readonly code: 'unreadable' | 'malformed' | 'wrong_key' | 'missing',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

function parseKeyFile(text: string, path: string): StoredSigningKey {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new SigningKeyFileError(
      'malformed',
      `${path} is not JSON; restore it from a backup or remove it to make a new key (devices will then refuse manifests until they trust the new key)`,
      { cause: e },
    );
  }
  const k = value as Partial<StoredSigningKey> | null;
  if (
    !k ||
    k.algorithm !== 'Ed25519' ||
    typeof k.keyId !== 'string' ||
    typeof k.publicKey !== 'string' ||
    typeof k.privateKey !== 'string'
  ) {
    throw new SigningKeyFileError(
      'malformed',
      `${path} is not a Flock signing key (want {algorithm: "Ed25519", keyId, publicKey, privateKey})`,
    );
  }
  return k as StoredSigningKey;
}

/** The key in `path`, or null when there is no file. Tightens a looser mode to 0600. */
export async function readSigningKeyFile(path: string): Promise<StoredSigningKey | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (isNotFound(e)) return null;
    throw new SigningKeyFileError('unreadable', `could not read the signing key ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const key = parseKeyFile(text, path);
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600);
  return key;
}

/**
 * Writes `key` to `path` (0600) unless a file is already there; returns the
 * key the file holds afterwards (the other writer's, when it won the race).
 */
export async function writeSigningKeyFileIfAbsent(path: string, key: StoredSigningKey): Promise<StoredSigningKey> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${SIGNING_KEY_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(tmp, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const stored = await readSigningKeyFile(path);
  if (!stored) throw new SigningKeyFileError('unreadable', `the signing key ${path} vanished while it was written`);
  return stored;
}
