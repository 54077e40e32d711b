import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { exportKeyPair, generateSigningKeyPair } from '../../shared/manifest/index.ts';
import { createCoordinator } from '../coordinator.ts';
import { openSqliteStore } from '../store/index.ts';
import { ensureSigningKey } from './bootstrap.ts';
import { SIGNING_KEY_FILE } from './signing-key-file.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'flock-keyfile-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('data at rest', () => {
  it('keeps the data folder 0700, the database and blobs 0600, and the signing key in its own 0600 file, not in the database', async () => {
    const dataDir = join(await tempDir(), 'data');
    const flock = await createCoordinator({ dataDir, sweep: false, log: pino({ level: 'silent' }) });
    const { hash } = await flock.deps.store.blobs.put(new TextEncoder().encode('a raw device update'));
    const key = JSON.parse(await readFile(join(dataDir, SIGNING_KEY_FILE), 'utf8'));
    await flock.close();

    expect(await mode(dataDir)).toBe(0o700);
    expect(await mode(join(dataDir, 'flock.db'))).toBe(0o600);
    expect(await mode(join(dataDir, 'blobs', hash.slice(0, 2), hash.slice(2)))).toBe(0o600);
    expect(await mode(join(dataDir, 'blobs', hash.slice(0, 2)))).toBe(0o700);
    expect(await mode(join(dataDir, SIGNING_KEY_FILE))).toBe(0o600);
    expect(key.privateKey).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    // What a backup tool dumping the database would get: no byte of the private key.
    const dump = (await readdir(dataDir)).filter((f) => f.startsWith('flock.db'));
    for (const f of dump) expect((await readFile(join(dataDir, f))).includes(Buffer.from(key.privateKey))).toBe(false);
  });

  it('moves a key an older version kept in the database into the file and scrubs it there', async () => {
    const dataDir = await tempDir();
    const legacy = await exportKeyPair(await generateSigningKeyPair());
    const store = await openSqliteStore({ dataDir });
    try {
      await store.setSetting('manifest-signing-key', { ...legacy });
      const key = await ensureSigningKey(store, join(dataDir, SIGNING_KEY_FILE));
      expect(key.keyId).toBe(legacy.keyId);
      expect(await store.getSetting('manifest-signing-key')).toEqual({ movedTo: 'file', keyId: legacy.keyId });
      expect(JSON.parse(await readFile(join(dataDir, SIGNING_KEY_FILE), 'utf8')).privateKey).toBe(legacy.privateKey);
      // Restarting reads the same key from the file.
      expect((await ensureSigningKey(store, join(dataDir, SIGNING_KEY_FILE))).keyId).toBe(legacy.keyId);
    } finally {
      await store.close();
    }
  });

  it('refuses to start with no key file, or another key, when the store already signs with a key', async () => {
    const dataDir = await tempDir();
    const store = await openSqliteStore({ dataDir });
    try {
      const first = await ensureSigningKey(store, join(dataDir, SIGNING_KEY_FILE));
      const elsewhere = join(await tempDir(), SIGNING_KEY_FILE);
      await expect(ensureSigningKey(store, elsewhere)).rejects.toMatchObject({
        code: 'missing',
        message: expect.stringContaining(first.keyId),
      });
      await writeFile(elsewhere, JSON.stringify(await exportKeyPair(await generateSigningKeyPair())), { mode: 0o600 });
      await expect(ensureSigningKey(store, elsewhere)).rejects.toMatchObject({ code: 'wrong_key' });
      await writeFile(elsewhere, '{"not":"a key"}');
      await expect(ensureSigningKey(store, elsewhere)).rejects.toMatchObject({ code: 'malformed' });
    } finally {
      await store.close();
    }
  });

  it('agrees on one key when first starts race on one file', async () => {
    const dataDir = await tempDir();
    const store = await openSqliteStore({ dataDir });
    try {
      const keys = await Promise.all(
        Array.from({ length: 6 }, () => ensureSigningKey(store, join(dataDir, SIGNING_KEY_FILE))),
      );
      expect(new Set(keys.map((k) => k.keyId)).size).toBe(1);
      expect((await readdir(dataDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
