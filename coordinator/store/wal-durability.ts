/**
 * Durable SQLite commits without blocking the event loop.
 *
 * With `synchronous = FULL`, better-sqlite3 fsyncs the WAL inside COMMIT, on
 * the main thread: ~1.4 ms here during which no request moves, once per
 * write. Instead the connection runs `synchronous = NORMAL` (COMMIT writes the
 * WAL frames but does not fsync them) and the store, before any operation
 * returns, waits for an fsync of the `-wal` file on libuv's thread pool that
 * started after the last commit. One fsync covers every commit made before it
 * started, so concurrent writers share it (group commit), and the main thread
 * never waits on the disk.
 *
 * Why this is as durable as FULL for what callers see: an fsync of the WAL
 * file flushes every frame written to it so far (fsync is per file, not per
 * descriptor), and SQLite in NORMAL mode still syncs the WAL before each
 * checkpoint and the database after it. Operations that only read wait too
 * while a commit is not yet on disk, so no caller (a duplicate upload's
 * receipt, say) is answered from state a power cut could take back.
 */
import { open, type FileHandle } from 'node:fs/promises';

export interface WalDurability {
  /** Call when the connection is released (no transaction open): notes how far commits have got. */
  noteReleased(): void;
  /** Resolves once every commit noted so far is on disk. */
  barrier(): Promise<void>;
  /** Closes the WAL file handle (after a last barrier). */
  close(): Promise<void>;
}

/**
 * `committedChanges` reads SQLite's `total_changes()`, which only grows; it is
 * read at release points, where no transaction is open, so uncommitted rows
 * of a transaction never count as committed. `fsyncFile` replaces the fsync
 * of `walPath` (tests count and delay it).
 */
export function walDurability(
  walPath: string,
  committedChanges: () => number,
  fsyncFile?: () => Promise<void>,
): WalDurability {
  let committed = committedChanges();
  let synced = committed;
  let handle: Promise<FileHandle> | null = null;
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;

  const fsyncOnce =
    fsyncFile ??
    (async (): Promise<void> => {
      handle ??= open(walPath, 'r');
      await (await handle).sync();
    });
  /** An fsync that starts no earlier than this call. */
  const sync = (): Promise<void> => {
    if (!running) {
      running = fsyncOnce().finally(() => {
        running = null;
      });
      return running;
    }
    // The running fsync may have started before the caller's commit: join the next one.
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = null;
        return sync();
      });
    return queued;
  };

  return {
    noteReleased() {
      committed = committedChanges();
    },
    async barrier() {
      const target = committed;
      if (target === synced) return;
      await sync();
      if (target > synced) synced = target;
    },
    async close() {
      if (!handle) return;
      const h = handle;
      handle = null;
      await (await h).close().catch(() => undefined);
    },
  };
}
