import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createCoordinator, openPostgresBackend, openSqliteBackend, parseBlobLocation } from './index.ts';
import { StoreError } from './store/errors.ts';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('opening a backend from the coordinator entry', () => {
  it('opens the embedded SQLite default that createCoordinator runs on', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'flock-backend-'));
    dirs.push(dataDir);
    const backend = await openSqliteBackend({ dataDir });
    expect(backend.description).toBe(`data dir: ${dataDir}`);
    const flock = await createCoordinator({ dataDir, ...backend, log, sweep: false, aggregationBackend: 'cpu' });
    const res = await flock.app.request('/healthz');
    expect(res.status).toBe(200);
    await flock.close();
    await backend.close();
  });

  it('refuses what cannot work with a typed StoreError', async () => {
    await expect(openSqliteBackend({ dataDir: '.', blobs: 'bytea' })).rejects.toThrow(/bytea needs a PostgreSQL store/);
    await expect(openPostgresBackend({ connectionString: 'mysql://db/flock', log })).rejects.toBeInstanceOf(StoreError);
    await expect(
      openPostgresBackend({ connectionString: 'postgres://u:secret@127.0.0.1:1/x', blobs: 'folder', log }),
    ).rejects.toThrow(/folder blobs need a dataDir/);
    expect(() => parseBlobLocation('ftp://x')).toThrow(/folder, bytea or s3/);
    expect(parseBlobLocation(' s3://bucket/prefix ')).toBe('s3://bucket/prefix');
  });
});
