/**
 * `store.snapshot` and the rollout row's stage guard, on SQLite and (when
 * FLOCK_TEST_DATABASE_URL is set) PostgreSQL: a snapshot keeps reading what
 * was committed when it began while another process commits (SQLite: a
 * child process on the same file; PostgreSQL: a second store, its own pool),
 * the outer store cannot be called inside one, and `ifStageIndex` refuses an
 * update decided on a stage the rollout has left.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../../test/pg/test-database.ts';
import { isStoreError } from './errors.ts';
import { openPostgresStore } from './postgres-store.ts';
import { openSqliteStore } from './sqlite-store.ts';
import type { Store } from './store.ts';

const script = fileURLToPath(new URL('./child-writer.fixture.ts', import.meta.url));

/** Publishes one manifest of digits v1 from a separate process on the SQLite file; resolves with its generation. */
function publishFromChild(dataDir: string): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, 'manifest', dataDir, 'digits', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => {
      const m = /GENERATION (\d+)/.exec(out);
      if (code === 0 && m) resolve(Number(m[1]));
      else reject(new Error(`child writer exited ${code}: ${err}`));
    }),
  );
}

async function seed(store: Store): Promise<void> {
  await store.createModelVersion({ app: 'digits', source: 'push', topology: {}, weightSpecs: [], variants: [] });
  await store.publishManifest({ app: 'digits', version: 1, sign: (generation) => ({ generation }) });
}

function behaviours(
  name: string,
  open: () => Promise<{ store: Store; publishElsewhere: () => Promise<number>; close: () => Promise<void> }>,
) {
  describe(name, () => {
    let env: Awaited<ReturnType<typeof open>>;
    beforeAll(async () => {
      env = await open();
      await seed(env.store);
    }, 60_000);
    afterAll(async () => env?.close());

    it('a snapshot reads one state while another process commits; the next read sees the commit', async () => {
      const before = (await env.store.latestManifest('digits'))!.generation;
      let published = 0;
      const seen = await env.store.snapshot(async (view) => {
        const first = (await view.latestManifest('digits'))!.generation;
        published = await env.publishElsewhere();
        const second = (await view.latestManifest('digits'))!.generation;
        return { first, second, other: await view.getManifest('digits', published) };
      });
      expect(published).toBe(before + 1);
      expect(seen).toEqual({ first: before, second: before, other: null });
      expect((await env.store.latestManifest('digits'))!.generation).toBe(published);
    }, 60_000);

    it('refuses the outer store inside a snapshot', async () => {
      await expect(env.store.snapshot(async () => env.store.latestManifest('digits'))).rejects.toThrow(
        /outer store was called inside/,
      );
    });

    it('ifStageIndex: an update decided at another stage is a conflict and changes nothing', async () => {
      await env.store.createRollout({
        id: `ro_${name}`,
        app: 'digits',
        candidateVersion: 1,
        controlVersion: 1,
        stages: [20, 50, 100],
        minStageSeconds: 0,
        minSamples: 1,
        metrics: {},
      });
      const advanced = await env.store.updateRollout(
        `ro_${name}`,
        { stageIndex: 1 },
        { ifStatus: ['running'], ifStageIndex: 0 },
      );
      expect(advanced.stageIndex).toBe(1);
      const again = await env.store
        .updateRollout(`ro_${name}`, { stageIndex: 2 }, { ifStatus: ['running'], ifStageIndex: 0 })
        .catch((e: unknown) => e);
      expect(isStoreError(again, 'conflict')).toBe(true);
      expect((again as Error).message).toMatch(/at stage index 1, not running, at stage index 0/);
      expect((await env.store.getRollout(`ro_${name}`))!.stageIndex).toBe(1);
    });
  });
}

behaviours('sqlite', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-snapshot-'));
  const store = await openSqliteStore({ dataDir });
  return {
    store,
    publishElsewhere: () => publishFromChild(dataDir),
    close: async () => {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});

const skipPostgres = skipWithoutPostgres('store snapshot on PostgreSQL');
describe.skipIf(skipPostgres)('on PostgreSQL', () => {
  behaviours('postgres', async () => {
    const db: TestDatabase = await createTestDatabase('snapshot');
    const store = await openPostgresStore({ connectionString: db.url, poolSize: 2 });
    const other = await openPostgresStore({ connectionString: db.url, poolSize: 1 });
    return {
      store,
      publishElsewhere: async () =>
        (await other.publishManifest({ app: 'digits', version: 1, sign: (generation) => ({ generation }) })).generation,
      close: async () => {
        await other.close();
        await store.close();
        await db.drop();
      },
    };
  });
});
