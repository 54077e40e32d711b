/**
 * The behaviour every `ClientStore` must show, as a test suite that needs no
 * test framework: it registers named async cases through the `test` function
 * it is given and asserts with plain throws. Node runs it against the memory
 * store with vitest's `it`; a browser page can run the very same cases against
 * IndexedDB (collect the promises, report failures).
 *
 * @example
 * // vitest
 * runClientStoreContract((options) => createMemoryStore(options), it);
 * // a page driven by playwright
 * let n = 0; const results: Promise<string | null>[] = [];
 * runClientStoreContract((o) => openIndexedDbStore(`contract-${n++}`, o), (name, fn) =>
 *   results.push(fn().then(() => null, (e) => `${name}: ${e.message}`)));
 */
import type { Manifest } from '../../shared/manifest/index.ts';
import { ClientStoreError, type ClientStore, type ClientStoreOptions, type StoredModel } from './types.ts';

export type MakeStore = (options: ClientStoreOptions) => ClientStore | Promise<ClientStore>;
export type TestRegistrar = (name: string, fn: () => Promise<void>) => void;

function fail(message: string): never {
  throw new Error(`contract violated: ${message}`);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    if (a.constructor !== b.constructor || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.every((v, i) => v === y[i]);
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (
    typeof a === 'object' &&
    typeof b === 'object' &&
    a !== null &&
    b !== null &&
    !Array.isArray(a) &&
    !Array.isArray(b)
  ) {
    const ka = Object.keys(a)
      .filter((k) => (a as Record<string, unknown>)[k] !== undefined)
      .sort();
    const kb = Object.keys(b)
      .filter((k) => (b as Record<string, unknown>)[k] !== undefined)
      .sort();
    return (
      deepEqual(ka, kb) &&
      ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return false;
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    ArrayBuffer.isView(x) ? `${x.constructor.name}[${Array.from(x as Uint8Array).join(',')}]` : x,
  );
}

function equal(actual: unknown, expected: unknown, what: string): void {
  if (!deepEqual(actual, expected)) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

async function rejectsWith(promise: Promise<unknown>, code: string, what: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ClientStoreError && error.code === code) return;
    fail(`${what}: expected ClientStoreError '${code}', got ${String(error)}`);
  }
  fail(`${what}: expected ClientStoreError '${code}', but it resolved`);
}

const hash = (c: string) => c.repeat(64);

/** A model record whose fp32 variant is made of shards `hashes`. */
export function contractModel(app: string, version: number, hashes: string[]): StoredModel {
  const manifest: Manifest = {
    protocolVersion: 1,
    app,
    version,
    generation: version,
    createdAt: '2025-01-01T00:00:00.000Z',
    modelTopologyHash: hash('a'),
    inputSpec: { shape: [null, 2], dtype: 'float32' },
    variants: [
      {
        encoding: 'fp32',
        totalBytes: 4 * hashes.length,
        sha256: hash('b'),
        shards: hashes.map((h) => ({ hash: h, size: 4 })),
      },
    ],
  };
  return {
    app,
    version,
    manifest,
    encoding: 'fp32',
    weightSpecs: [{ name: 'dense/kernel', shape: [2, 1] }],
    topology: { class_name: 'Sequential', config: { layers: [] } },
    inputSpec: manifest.inputSpec,
    storedAt: 1,
  };
}

/**
 * Register every contract case. Each case makes its own store (`makeStore`)
 * with a fake clock and small bounds, and closes it.
 */
export function runClientStoreContract(makeStore: MakeStore, test: TestRegistrar): void {
  const withStore = (name: string, body: (store: ClientStore, clock: { t: number }) => Promise<void>) =>
    test(name, async () => {
      const clock = { t: 1_000_000 };
      const store = await makeStore({ now: () => clock.t, maxExamples: 3, maxExampleAgeMs: 1000, maxOutboxEntries: 3 });
      try {
        await body(store, clock);
      } finally {
        await store.close();
      }
    });

  withStore('models round-trip, list in version order, and come back as copies', async (store) => {
    await store.putModel(contractModel('digits', 2, [hash('1')]));
    await store.putModel(contractModel('digits', 1, [hash('1')]));
    await store.putModel(contractModel('other', 5, [hash('1')]));
    const got = await store.getModel('digits', 2);
    equal(got, contractModel('digits', 2, [hash('1')]), 'getModel');
    equal(await store.getModel('digits', 9), undefined, 'getModel of a missing version');
    equal(
      (await store.listModels('digits')).map((m) => m.version),
      [1, 2],
      'listModels versions',
    );
    got!.weightSpecs[0].shape[0] = 99;
    equal(
      (await store.getModel('digits', 2))!.weightSpecs[0].shape,
      [2, 1],
      'stored model after mutating a returned copy',
    );
  });

  withStore('putModel refuses records that contradict their manifest', async (store) => {
    const wrongVersion = { ...contractModel('digits', 2, [hash('1')]), version: 3 };
    await rejectsWith(store.putModel(wrongVersion), 'bad_input', 'model whose manifest names another version');
    const noVariant = { ...contractModel('digits', 2, [hash('1')]), encoding: 'int8' as const };
    await rejectsWith(store.putModel(noVariant), 'bad_input', 'model stored in a variant its manifest lacks');
  });

  withStore('shards round-trip exactly the viewed bytes; missingShards keeps order', async (store) => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    await store.putShard(hash('1'), backing.subarray(2, 5));
    const got = await store.getShard(hash('1'));
    equal(got, new Uint8Array([1, 2, 3]), 'shard bytes of a subarray');
    got![0] = 42;
    equal(await store.getShard(hash('1')), new Uint8Array([1, 2, 3]), 'shard after mutating a returned copy');
    equal(await store.getShard(hash('2')), undefined, 'missing shard');
    equal(await store.missingShards([hash('3'), hash('1'), hash('2')]), [hash('3'), hash('2')], 'missingShards');
  });

  withStore('activation needs the model and all its shards, and keeps the old active as previous', async (store) => {
    equal(
      await store.getPointer('digits'),
      { app: 'digits', activeVersion: null, previousVersion: null, newestGeneration: 0, trustedPublicKey: null },
      'fresh pointer',
    );
    await rejectsWith(store.activateVersion('digits', 1), 'model_missing', 'activating an unstored model');
    await store.putModel(contractModel('digits', 1, [hash('1'), hash('2')]));
    await store.putShard(hash('1'), new Uint8Array([1]));
    await rejectsWith(store.activateVersion('digits', 1), 'shards_missing', 'activating a partial download');
    equal((await store.getPointer('digits')).activeVersion, null, 'active version after a refused activation');
    await store.putShard(hash('2'), new Uint8Array([2]));
    equal((await store.activateVersion('digits', 1)).activeVersion, 1, 'active after first activation');
    await store.putModel(contractModel('digits', 2, [hash('1')]));
    const second = await store.activateVersion('digits', 2);
    equal([second.activeVersion, second.previousVersion], [2, 1], 'active/previous after upgrade');
    const again = await store.activateVersion('digits', 2);
    equal([again.activeVersion, again.previousVersion], [2, 1], 'activating the active version again');
    const rolledBack = await store.activateVersion('digits', 1);
    equal([rolledBack.activeVersion, rolledBack.previousVersion], [1, 2], 'active/previous after rollback');
    equal(await store.getPointer('digits'), rolledBack, 'getPointer after activation');
  });

  withStore('pruning keeps active and previous and the shards anything still references', async (store) => {
    await store.putModel(contractModel('digits', 1, [hash('1'), hash('2')]));
    await store.putModel(contractModel('digits', 2, [hash('2'), hash('3')]));
    await store.putModel(contractModel('digits', 3, [hash('3'), hash('4')]));
    await store.putModel(contractModel('other', 1, [hash('1')]));
    for (const c of '123456') await store.putShard(hash(c), new Uint8Array([Number(c)]));
    await store.activateVersion('digits', 2);
    await store.activateVersion('digits', 3);
    const result = await store.pruneVersions('digits');
    equal(result, { deletedVersions: [1], deletedShards: [hash('5'), hash('6')] }, 'prune result');
    equal(
      (await store.listModels('digits')).map((m) => m.version),
      [2, 3],
      'versions after prune',
    );
    equal(
      (await store.listModels('other')).map((m) => m.version),
      [1],
      "another app's versions after prune",
    );
    equal(
      await store.missingShards(['1', '2', '3', '4', '5', '6'].map(hash)),
      [hash('5'), hash('6')],
      'shards after prune',
    );
    await store.activateVersion('digits', 2);
    equal((await store.activateVersion('digits', 3)).activeVersion, 3, 'activation still works after pruning');
  });

  withStore(
    'manifest generations only grow; the first key is trusted and a different one is flagged',
    async (store) => {
      equal(await store.noteGeneration('digits', 5), 5, 'first generation');
      equal(await store.noteGeneration('digits', 3), 5, 'older generation does not lower it');
      equal(await store.noteGeneration('digits', 8), 8, 'newer generation');
      equal(
        await store.trustPublicKey('digits', 'KEY-A'),
        { status: 'stored', trustedPublicKey: 'KEY-A' },
        'first use',
      );
      equal(
        await store.trustPublicKey('digits', 'KEY-A'),
        { status: 'matched', trustedPublicKey: 'KEY-A' },
        'same key',
      );
      equal(
        await store.trustPublicKey('digits', 'KEY-B'),
        { status: 'mismatch', trustedPublicKey: 'KEY-A' },
        'changed key',
      );
      equal(
        await store.trustPublicKey('other', 'KEY-B'),
        { status: 'stored', trustedPublicKey: 'KEY-B' },
        'another app',
      );
      const p = await store.getPointer('digits');
      equal([p.newestGeneration, p.trustedPublicKey], [8, 'KEY-A'], 'pointer keeps generation and key');
    },
  );

  withStore('examples are bounded by count and age, oldest evicted first, per app', async (store, clock) => {
    const x = (v: number) => new Float32Array([v, v]);
    for (let i = 0; i < 3; i++) {
      clock.t += 10;
      equal((await store.addExample('digits', x(i), i)).evicted, 0, `adding example ${i}`);
    }
    await store.addExample('other', x(7), 7);
    clock.t += 10;
    const added = await store.addExample('digits', x(3), 3);
    equal(added.evicted, 1, 'evicted by count');
    const listed = await store.listExamples('digits');
    equal(
      listed.map((e) => e.label),
      [1, 2, 3],
      'examples after count eviction (oldest first)',
    );
    equal(listed[2].input, x(3), 'example input');
    equal(listed[2].id, added.id, 'example id');
    clock.t += 1000 - 20 + 1; // example 1 (added at t0 + 20) is now older than maxExampleAgeMs
    equal(await store.countExamples('digits'), 2, 'count after expiry');
    equal(
      (await store.listExamples('digits')).map((e) => e.label),
      [2, 3],
      'examples after expiry',
    );
    await rejectsWith(store.addExample('digits', new Float32Array([Number.NaN]), 1), 'bad_input', 'non-finite example');
    await rejectsWith(store.addExample('digits', x(1), 1.5), 'bad_input', 'fractional label');
    await store.clearExamples('digits');
    equal(await store.countExamples('digits'), 0, 'count after clear');
    equal(
      (await store.listExamples('other')).map((e) => e.label),
      [7],
      "other app's examples untouched by clear",
    );
    clock.t += 100;
    equal(await store.countExamples('other'), 0, "other app's example after it expired");
  });

  withStore(
    'the outbox schedules, retries, replaces by id and drops telemetry before updates',
    async (store, clock) => {
      const body = new Uint8Array([1, 2, 3]);
      const entry = (id: string, kind: 'update' | 'telemetry') => ({
        id,
        kind,
        method: 'POST' as const,
        url: `/v1/${id}`,
        headers: { 'content-type': 'x' },
        body,
      });
      const first = await store.enqueueOutbox(entry('u1', 'update'));
      equal([first.attempts, first.nextAttemptAt, first.createdAt], [0, clock.t, clock.t], 'new entry bookkeeping');
      clock.t += 1;
      await store.enqueueOutbox({ ...entry('t1', 'telemetry'), nextAttemptAt: clock.t + 500 });
      equal(
        (await store.dueOutbox()).map((e) => e.id),
        ['u1'],
        'due entries before t1 is due',
      );
      await store.rescheduleOutbox('u1', clock.t + 100, 'offline');
      equal(await store.dueOutbox(), [], 'nothing due after rescheduling');
      equal(
        (await store.dueOutbox(undefined, Infinity)).map((e) => e.id),
        ['u1', 't1'],
        'everything, scheduled or not, with at = Infinity',
      );
      clock.t += 600;
      const due = await store.dueOutbox();
      equal(
        due.map((e) => [e.id, e.attempts]),
        [
          ['u1', 1],
          ['t1', 0],
        ],
        'due entries, soonest first',
      );
      equal(
        [due[0].lastError, due[0].body, due[0].headers],
        ['offline', body, { 'content-type': 'x' }],
        'stored request',
      );
      equal((await store.dueOutbox(1)).length, 1, 'due with a limit');
      await store.enqueueOutbox(entry('u1', 'update'));
      equal(await store.countOutbox(), { update: 1, telemetry: 1 }, 'same id replaces');
      clock.t += 1;
      await store.enqueueOutbox(entry('t2', 'telemetry'));
      clock.t += 1;
      await store.enqueueOutbox(entry('u2', 'update'));
      equal(await store.countOutbox(), { update: 2, telemetry: 1 }, 'oldest telemetry dropped when full');
      equal((await store.dueOutbox()).map((e) => e.id).sort(), ['t2', 'u1', 'u2'], 'survivors');
      await store.enqueueOutbox(entry('u3', 'update'));
      await rejectsWith(store.enqueueOutbox(entry('u4', 'update')), 'outbox_full', 'outbox full of updates');
      await store.removeOutbox('u1');
      equal(await store.countOutbox(), { update: 2, telemetry: 0 }, 'after remove');
    },
  );

  withStore('device registrations are kept per app', async (store) => {
    equal(await store.getDevice('digits'), undefined, 'no device yet');
    await store.putDevice({ app: 'digits', deviceId: 'd1', token: 'flk_dev_d1.x' });
    equal(await store.getDevice('digits'), { app: 'digits', deviceId: 'd1', token: 'flk_dev_d1.x' }, 'device');
    equal(await store.getDevice('other'), undefined, 'device of another app');
    await store.deleteDevice('digits');
    equal(await store.getDevice('digits'), undefined, 'device after delete');
  });

  test('a closed store refuses work with a clear error', async () => {
    const store = await makeStore({});
    await store.close();
    await rejectsWith(store.getPointer('digits'), 'closed', 'using a closed store');
  });
}
