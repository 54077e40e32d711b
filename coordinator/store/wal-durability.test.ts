import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openSqliteStore, SQLITE_FILE } from './sqlite-store.ts';
import { walDurability } from './wal-durability.ts';

/** An fsync the test completes by hand, recording when each one started. */
function manualFsync() {
  const started: Array<{ finish: () => void }> = [];
  const fsync = () => new Promise<void>((finish) => started.push({ finish }));
  return { fsync, started };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('walDurability', () => {
  it('returns at once when nothing was committed since the last fsync', async () => {
    const { fsync, started } = manualFsync();
    const wal = walDurability('/nonexistent', () => 0, fsync);
    await wal.barrier();
    expect(started).toHaveLength(0);
  });

  it('waits for an fsync that started after the commit, and lets concurrent writers share one', async () => {
    let changes = 0;
    const { fsync, started } = manualFsync();
    const wal = walDurability('/nonexistent', () => changes, fsync);
    changes = 1;
    wal.noteReleased();
    let aDone = false;
    const a = wal.barrier().then(() => (aDone = true));
    await tick();
    expect(started).toHaveLength(1);

    // B commits while A's fsync runs: that fsync may predate B's frames, so B waits for the next.
    changes = 2;
    wal.noteReleased();
    let bDone = false;
    const b = wal.barrier().then(() => (bDone = true));
    let cDone = false;
    const c = wal.barrier().then(() => (cDone = true)); // a read right after B: B's commit is not on disk yet
    await tick();
    expect([aDone, bDone, cDone]).toEqual([false, false, false]);

    started[0].finish();
    await a;
    await tick();
    expect([bDone, cDone]).toEqual([false, false]);
    expect(started).toHaveLength(2); // one fsync for B and C together

    started[1].finish();
    await Promise.all([b, c]);
    await wal.barrier(); // everything synced: no third fsync
    expect(started).toHaveLength(2);
  });

  it('does not count a transaction still open as committed', async () => {
    let changes = 5;
    const { fsync, started } = manualFsync();
    const wal = walDurability('/nonexistent', () => changes, fsync);
    changes = 9; // rows written inside a transaction that has not released the connection
    await wal.barrier();
    expect(started).toHaveLength(0);
    wal.noteReleased(); // it committed
    const done = wal.barrier();
    await tick();
    expect(started).toHaveLength(1);
    started[0].finish();
    await done;
  });

  it('surfaces a failed fsync to the operation that waited on it, and retries on the next', async () => {
    let changes = 0;
    let fail = true;
    const wal = walDurability(
      '/nonexistent',
      () => changes,
      async () => {
        if (fail) throw new Error('EIO');
      },
    );
    changes = 1;
    wal.noteReleased();
    await expect(wal.barrier()).rejects.toThrow('EIO');
    fail = false;
    await expect(wal.barrier()).resolves.toBeUndefined();
  });
});

describe('the SQLite store with grouped WAL fsyncs', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('fsyncs the real WAL file once for many concurrent writes, and keeps every one across a reopen', async () => {
    dir = await mkdtemp(join(tmpdir(), 'flock-wal-'));
    const store = await openSqliteStore({ dataDir: dir });
    // Count the real fsyncs (they still run) on FileHandle, which the WAL sync uses.
    const probe = await open(join(dir, `${SQLITE_FILE}-wal`), 'r');
    const FileHandle = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    const syncs = vi.spyOn(FileHandle, 'sync');
    try {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          store.appendAudit({ actor: 'test', action: 'write', target: `t${i}`, details: { i } }),
        ),
      );
      expect(syncs.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(syncs.mock.calls.length).toBeLessThan(10);
      const before = syncs.mock.calls.length;
      await store.listAudit({ limit: 1 }); // a read with everything on disk: no fsync
      expect(syncs.mock.calls.length).toBe(before);
    } finally {
      syncs.mockRestore();
    }
    await store.close();
    const again = await openSqliteStore({ dataDir: dir });
    const entries = await again.listAudit({ limit: 100 });
    expect(
      entries
        .filter((e) => e.action === 'write')
        .map((e) => e.target)
        .sort(),
    ).toEqual(Array.from({ length: 50 }, (_, i) => `t${i}`).sort());
    await again.close();
  });
});
