/**
 * The store contract: one suite of behaviour every `Store` must show, run by
 * `sqlite-store.test.ts` and `postgres-store.test.ts` alike (the tfjs
 * `describeWithFlags` idea). Only what the interface promises is here; what
 * one backend adds (WAL files, advisory locks, bytea) stays in its own test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError } from './errors.ts';
import { hashSecret } from './identity-ops.ts';
import type { NewModelVersion, Store } from './store.ts';
import type { Round } from './types.ts';
import { TaskPlanSchema } from '../../shared/protocol/index.ts';

export interface StoreUnderTest {
  store: Store;
  /** Runs after `store.close()`: remove the directory or database. */
  cleanup(): Promise<void>;
}

/** Opens a fresh, empty store (optionally on a test clock). */
export type OpenStore = (options?: { now?: () => Date }) => Promise<StoreUnderTest>;

const modelInput = (app = 'digits', extra: Partial<NewModelVersion> = {}): NewModelVersion => ({
  app,
  source: 'push',
  topology: { class_name: 'Sequential', config: { layers: [] } },
  weightSpecs: [
    { name: 'dense/kernel', shape: [784, 10] },
    { name: 'dense/bias', shape: [10] },
  ],
  inputSpec: { shape: [28, 28, 1], dtype: 'float32' },
  labels: ['0', '1', '2'],
  variants: [
    { encoding: 'fp32', totalBytes: 31400, sha256: 'a'.repeat(64), shards: [{ hash: 'b'.repeat(64), size: 31400 }] },
  ],
  metrics: { accuracy: 0.91 },
  ...extra,
});

async function seed(s: Store, devices: number, goal: number, selectionLimit: number): Promise<Round> {
  await s.transaction(async (tx) => {
    for (let i = 0; i < devices; i++)
      await tx.createDevice({ deviceId: `d${i}`, app: 'digits', tokenHash: hashSecret(`t${i}`) });
  });
  await s.createModelVersion({
    app: 'digits',
    source: 'push',
    topology: {},
    weightSpecs: [{ name: 'w', shape: [2] }],
    variants: [],
  });
  const task = await s.createTask({
    app: 'digits',
    name: 'mnist',
    modelVersion: 1,
    plan: TaskPlanSchema.parse({ population: 10 }),
    budget: { epsilon: 4, delta: 1e-5 },
  });
  return s.createRound({
    taskId: task.id,
    globalVersion: 1,
    goal,
    selectionLimit,
    deadlineAt: new Date(Date.now() + 60_000).toISOString(),
  });
}

const hashOf = (n: number) => n.toString(16).padStart(64, '0');

/**
 * Declares the contract suite for one store implementation.
 *
 * @example
 * ```ts
 * describeStoreContract('sqlite', async (o) => {
 *   const dataDir = await mkdtemp(join(tmpdir(), 'flock-'));
 *   return { store: await openSqliteStore({ dataDir, ...o }), cleanup: () => rm(dataDir, { recursive: true }) };
 * });
 * ```
 */
export function describeStoreContract(name: string, openStore: OpenStore): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let round: Round;
    const opened: StoreUnderTest[] = [];
    const open = async (options?: { now?: () => Date }): Promise<Store> => {
      const s = await openStore(options);
      opened.push(s);
      store = s.store;
      return store;
    };
    afterEach(async () => {
      for (const s of opened.splice(0)) {
        await s.store.close();
        await s.cleanup();
      }
    });

    describe('settings, admin keys and devices', () => {
      it('keeps settings as JSON and lets the first writer win with setSettingIfAbsent', async () => {
        store = await open();
        expect(await store.getSetting('missing')).toBeNull();
        await store.setSetting('n', 1);
        await store.setSetting('n', { a: [1, 'x', null, true] });
        expect(await store.getSetting('n')).toEqual({ a: [1, 'x', null, true] });
        const results = await Promise.all(
          ['first', 'second', 'third'].map((v) => store!.setSettingIfAbsent('keypair', v)),
        );
        expect(new Set(results).size).toBe(1);
        expect(await store.getSetting('keypair')).toBe(results[0]);
      });

      it('verifies admin keys by hash and honours revocation', async () => {
        store = await open();
        const key = await store.createAdminKey({ keyHash: hashSecret('s3cret'), label: 'first start' });
        expect(key.keyHash).not.toContain('s3cret');
        expect((await store.verifyAdminKey('s3cret'))?.id).toBe(key.id);
        expect(await store.verifyAdminKey('s3cres')).toBeNull();
        expect(await store.revokeAdminKey(key.id)).toBe(true);
        expect(await store.revokeAdminKey(key.id)).toBe(false);
        expect(await store.verifyAdminKey('s3cret')).toBeNull();
        expect((await store.listAdminKeys())[0].revokedAt).not.toBeNull();
        await expect(store.createAdminKey({ keyHash: hashSecret('s3cret'), label: 'dup' })).rejects.toMatchObject({
          code: 'conflict',
        });
      });

      it('stores devices with hashed tokens, verifies tokens and counts per app', async () => {
        let clock = Date.parse('2025-01-01T00:00:00Z');
        store = await open({ now: () => new Date(clock) });
        const device = await store.createDevice({
          deviceId: 'd1',
          app: 'digits',
          tokenHash: hashSecret('tok'),
          platform: { ua: 'x' },
          capabilities: { webgpu: true },
        });
        await store.createDevice({ deviceId: 'd2', app: 'digits', tokenHash: hashSecret('tok2') });
        await store.createDevice({ deviceId: 'd3', app: 'other', tokenHash: hashSecret('tok3') });
        expect(device.capabilities).toEqual({ webgpu: true });
        expect((await store.verifyDeviceToken('d1', 'tok'))?.deviceId).toBe('d1');
        expect(await store.verifyDeviceToken('d1', 'tok2')).toBeNull();
        expect(await store.verifyDeviceToken('nobody', 'tok')).toBeNull();
        await expect(store.createDevice({ deviceId: 'd1', app: 'digits', tokenHash: 'x' })).rejects.toMatchObject({
          code: 'conflict',
        });
        clock += 60_000;
        await store.touchDevice('d1');
        expect((await store.getDevice('d1'))?.lastSeenAt).toBe('2025-01-01T00:01:00.000Z');
        expect(await store.countDevices('digits')).toBe(2);
        expect((await store.listDevices({ app: 'digits', limit: 1, offset: 1 })).map((d) => d.deviceId)).toEqual([
          'd2',
        ]);
      });
    });

    describe('model registry and manifests', () => {
      it('allocates version numbers atomically per app under concurrent calls', async () => {
        store = await open();
        const made = await Promise.all(
          Array.from({ length: 30 }, (_, i) => store!.createModelVersion(modelInput(i % 3 === 0 ? 'b' : 'a'))),
        );
        const byApp = (app: string) =>
          made
            .filter((m) => m.app === app)
            .map((m) => m.version)
            .sort((x, y) => x - y);
        expect(byApp('a')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect(byApp('b')).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
        expect((await store.latestModelVersion('a'))?.version).toBe(20);
        expect(await store.listApps()).toEqual(['a', 'b']);
      });

      it("says which blobs an app's versions refer to (weights, shards, topology), and nothing of another app's", async () => {
        store = await open();
        await store.createModelVersion(modelInput('digits', { topology: { topologyHash: 'c'.repeat(64) } }));
        expect(await store.appReferencesBlob('digits', 'a'.repeat(64))).toBe(true);
        expect(await store.appReferencesBlob('digits', 'b'.repeat(64))).toBe(true);
        expect(await store.appReferencesBlob('digits', 'c'.repeat(64))).toBe(true);
        expect(await store.appReferencesBlob('digits', 'd'.repeat(64))).toBe(false);
        expect(await store.appReferencesBlob('inbox', 'a'.repeat(64))).toBe(false);
        expect(await store.appReferencesBlob('digits', '%')).toBe(false);
        expect(await store.appReferencesBlob('digits', 'a'.repeat(10))).toBe(false);
      });

      it('round-trips every field, checks the parent, and moves stages with audited history', async () => {
        store = await open();
        const v1 = await store.createModelVersion(modelInput());
        expect(v1).toMatchObject({
          version: 1,
          stage: 'candidate',
          labels: ['0', '1', '2'],
          metrics: { accuracy: 0.91 },
        });
        expect(v1.weightSpecs[0].shape).toEqual([784, 10]);
        const v2 = await store.createModelVersion(
          modelInput('digits', {
            source: 'round',
            parentVersion: 1,
            roundId: 'r1',
            clients: 10,
            clipNorm: 1.5,
            noiseMultiplier: 1.1,
            epsilon: 0.3,
          }),
        );
        expect(v2).toMatchObject({
          version: 2,
          parentVersion: 1,
          clients: 10,
          clipNorm: 1.5,
          noiseMultiplier: 1.1,
          epsilon: 0.3,
          source: 'round',
        });
        await expect(store.createModelVersion(modelInput('digits', { parentVersion: 99 }))).rejects.toMatchObject({
          code: 'not_found',
        });

        const t = await store.setStage('digits', 2, { to: 'canary', actor: 'admin:k1', reason: 'rollout' });
        expect(t).toMatchObject({ from: 'candidate', to: 'canary', actor: 'admin:k1' });
        await expect(
          store.setStage('digits', 2, { to: 'production', actor: 'system', expectedFrom: 'candidate' }),
        ).rejects.toMatchObject({ code: 'conflict' });
        await store.setStage('digits', 2, { to: 'production', actor: 'system', expectedFrom: 'canary' });
        await expect(store.setStage('digits', 7, { to: 'archived', actor: 'system' })).rejects.toBeInstanceOf(
          StoreError,
        );
        expect((await store.getModelVersion('digits', 2))?.stage).toBe('production');
        expect((await store.stageHistory('digits', 2)).map((h) => `${h.from}->${h.to}`)).toEqual([
          'null->candidate',
          'candidate->canary',
          'canary->production',
        ]);
        expect((await store.listModelVersions('digits', { stage: 'production' })).map((v) => v.version)).toEqual([2]);
        // The version row itself did not change.
        expect((await store.getModelVersion('digits', 2))?.createdAt).toBe(v2.createdAt);
      });

      it('publishes manifests with a monotonic generation, also under concurrency', async () => {
        store = await open();
        await store.createModelVersion(modelInput());
        await store.createModelVersion(modelInput());
        expect(await store.latestManifest('digits')).toBeNull();
        const published = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            store!.publishManifest({
              app: 'digits',
              version: (i % 2) + 1,
              sign: async (generation) => ({ generation, version: (i % 2) + 1, sig: `s${generation}` }),
            }),
          ),
        );
        expect(published.map((m) => m.generation).sort((a, b) => a - b)).toEqual(
          Array.from({ length: 12 }, (_, i) => i + 1),
        );
        for (const m of published) expect(m.signedManifest.generation).toBe(m.generation);
        const latest = await store.latestManifest('digits');
        expect(latest?.generation).toBe(12);
        expect((await store.getManifest('digits', 3))?.signedManifest.sig).toBe('s3');
        await expect(store.publishManifest({ app: 'digits', version: 5, sign: () => ({}) })).rejects.toMatchObject({
          code: 'not_found',
        });
        // A failed signer rolls the generation back: no gap.
        await expect(
          store.publishManifest({
            app: 'digits',
            version: 1,
            sign: () => {
              throw new Error('hsm down');
            },
          }),
        ).rejects.toThrow('hsm down');
        expect((await store.publishManifest({ app: 'digits', version: 1, sign: (g) => ({ g }) })).generation).toBe(13);
      });
    });

    describe('tasks', () => {
      it('creates, patches and guards status changes', async () => {
        store = await open();
        await store.createModelVersion(modelInput());
        const task = await store.createTask({
          app: 'digits',
          name: 'mnist',
          modelVersion: 1,
          plan: TaskPlanSchema.parse({ population: 100, clientsPerRound: 10 }),
          budget: { epsilon: 8, delta: 1e-5 },
          clipNorm: 1,
        });
        expect(task).toMatchObject({
          currentVersion: 1,
          status: 'active',
          epsilonSpent: 0,
          accountant: { orders: [], rdp: [] },
        });
        const patched = await store.updateTask(task.id, {
          currentVersion: 1,
          epsilonSpent: 0.5,
          accountant: { orders: [2, 4], rdp: [0.1, 0.2] },
          clipNorm: 0.8,
          optimizerStateHash: 'c'.repeat(64),
        });
        expect(patched).toMatchObject({
          epsilonSpent: 0.5,
          accountant: { orders: [2, 4], rdp: [0.1, 0.2] },
          clipNorm: 0.8,
          optimizerStateHash: 'c'.repeat(64),
        });
        await store.updateTask(task.id, { status: 'paused' }, { ifStatus: ['active'] });
        await expect(store.updateTask(task.id, { status: 'done' }, { ifStatus: ['active'] })).rejects.toMatchObject({
          code: 'conflict',
        });
        await expect(store.updateTask('nope', { status: 'done' })).rejects.toMatchObject({ code: 'not_found' });
        expect((await store.listTasks({ app: 'digits', status: 'paused' })).map((t) => t.id)).toEqual([task.id]);
        await expect(
          store.createTask({
            app: 'digits',
            name: 'x',
            modelVersion: 1,
            plan: TaskPlanSchema.parse({ population: 10 }),
            budget: { epsilon: 0, delta: 1e-5 },
          }),
        ).rejects.toMatchObject({ code: 'invalid' });
      });
    });

    describe('audit log and telemetry', () => {
      it('appends audit entries and pages newest first with filters', async () => {
        store = await open();
        for (let i = 0; i < 7; i++) {
          await store.appendAudit({
            actor: i % 2 ? 'admin:k1' : 'system',
            action: i < 3 ? 'model.push' : 'task.create',
            target: `t${i}`,
            details: { i },
          });
        }
        const page1 = await store.listAudit({ limit: 3 });
        expect(page1.map((e) => e.details.i)).toEqual([6, 5, 4]);
        const page2 = await store.listAudit({ limit: 3, beforeId: page1[2].id });
        expect(page2.map((e) => e.details.i)).toEqual([3, 2, 1]);
        expect((await store.listAudit({ actor: 'admin:k1' })).map((e) => e.details.i)).toEqual([5, 3, 1]);
        expect((await store.listAudit({ action: 'model.push', actor: 'system' })).map((e) => e.target)).toEqual([
          't2',
          't0',
        ]);
        await expect(store.appendAudit({ actor: '', action: 'x' })).rejects.toMatchObject({ code: 'invalid' });
      });

      it('appends telemetry in batches and queries by app, version, kind and since', async () => {
        store = await open();
        const events = Array.from({ length: 450 }, (_, i) => ({
          deviceId: `d${i % 5}`,
          app: 'digits',
          version: i % 2 ? 2 : 1,
          kind: i % 3 ? 'latency' : 'confidence',
          payload: { ms: i },
          at: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(),
        }));
        expect(await store.appendTelemetry(events)).toBe(450);
        const expected = events.filter(
          (e) => e.version === 2 && e.kind === 'latency' && e.at >= '2025-01-01T00:05:00.000Z',
        );
        const got = await store.listTelemetry({
          app: 'digits',
          version: 2,
          kind: 'latency',
          since: '2025-01-01T00:05:00.000Z',
          limit: 1000,
        });
        expect(got.map((e) => e.payload.ms)).toEqual(expected.map((e) => e.payload.ms));
        const first = await store.listTelemetry({ app: 'digits', limit: 10 });
        const next = await store.listTelemetry({ app: 'digits', limit: 10, afterId: first[9].id });
        expect(next[0].payload.ms).toBe(10);
        expect(await store.listTelemetry({ app: 'none' })).toEqual([]);
        await expect(
          store.appendTelemetry([{ deviceId: 'd', app: 'digits', kind: 'x', payload: {}, at: 'yesterday' }]),
        ).rejects.toMatchObject({ code: 'invalid' });
      });

      it('deletes telemetry stored before a cutoff (retention) and keeps the rest', async () => {
        store = await open();
        const at = (s: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, s)).toISOString();
        await store.appendTelemetry(
          Array.from({ length: 10 }, (_, i) => ({
            deviceId: 'd',
            app: 'digits',
            version: 1,
            kind: 'feedback',
            payload: { i },
            at: at(i),
          })),
        );
        expect(await store.deleteTelemetryBefore(at(4))).toBe(4);
        expect((await store.listTelemetry({ app: 'digits' })).map((e) => e.payload.i)).toEqual([4, 5, 6, 7, 8, 9]);
        expect(await store.deleteTelemetryBefore(at(0))).toBe(0);
        await expect(store.deleteTelemetryBefore('last month')).rejects.toMatchObject({ code: 'invalid' });
      });
    });

    describe('transactions', () => {
      it('commits all or nothing, and refuses calls to the outer store inside', async () => {
        store = await open();
        await expect(
          store.transaction(async (tx) => {
            await tx.setSetting('a', 1);
            await tx.createModelVersion(modelInput());
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        expect(await store.getSetting('a')).toBeNull();
        expect(await store.latestModelVersion('digits')).toBeNull();

        const s = store;
        const result = await s.transaction(async (tx) => {
          const v = await tx.createModelVersion(modelInput());
          await tx.appendAudit({ actor: 'system', action: 'model.push', target: `digits@${v.version}` });
          const err = await s.getSetting('a').then(
            () => null,
            (e: unknown) => e,
          );
          return { v, err };
        });
        expect(result.v.version).toBe(1);
        expect(result.err).toMatchObject({ code: 'invalid' });
        expect((await store.listAudit()).length).toBe(1);
      });

      it('throws on use after close', async () => {
        const s = await open();
        await s.close();
        await expect(s.getSetting('x')).rejects.toMatchObject({ code: 'invalid' });
      });
    });

    describe('rounds', () => {
      it('numbers rounds per task and lists them', async () => {
        round = await seed(await open(), 0, 2, 3);
        const second = await store.createRound({
          taskId: round.taskId,
          globalVersion: 1,
          goal: 2,
          selectionLimit: 3,
          deadlineAt: '2030-01-01T00:00:00Z',
        });
        expect([round.number, second.number]).toEqual([1, 2]);
        expect(second.deadlineAt).toBe('2030-01-01T00:00:00.000Z');
        expect((await store.latestRound(round.taskId))?.id).toBe(second.id);
        expect(
          (
            await store.listRounds({ taskId: round.taskId, status: ['open'], deadlineBefore: '2029-01-01T00:00:00Z' })
          ).map((r) => r.id),
        ).toEqual([round.id]);
        await expect(
          store.createRound({
            taskId: round.taskId,
            globalVersion: 1,
            goal: 3,
            selectionLimit: 2,
            deadlineAt: '2030-01-01T00:00:00Z',
          }),
        ).rejects.toMatchObject({ code: 'invalid' });
        await expect(
          store.createRound({ taskId: round.taskId, globalVersion: 1, goal: 1, selectionLimit: 1, deadlineAt: 'soon' }),
        ).rejects.toMatchObject({ code: 'invalid' });
        await expect(
          store.createRound({
            taskId: 'nope',
            globalVersion: 1,
            goal: 1,
            selectionLimit: 1,
            deadlineAt: '2030-01-01T00:00:00Z',
          }),
        ).rejects.toMatchObject({ code: 'not_found' });
      });

      it('holds the over-selection limit under 50 concurrent claims', async () => {
        round = await seed(await open(), 50, 10, 13);
        const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => store.claimSlot(round.id, `d${i}`)));
        expect(outcomes.filter((o) => o === 'selected')).toHaveLength(13);
        expect(outcomes.filter((o) => o === 'full')).toHaveLength(37);
        const after = await store.getRound(round.id);
        expect(after?.selectedCount).toBe(13);
        expect(await store.listParticipants(round.id)).toHaveLength(13);
        const winner = (await store.listParticipants(round.id))[0].deviceId;
        expect(await store.claimSlot(round.id, winner)).toBe('already-selected');
        expect((await store.getRound(round.id))?.selectedCount).toBe(13);
        await expect(store.claimSlot('no-round', 'd0')).rejects.toMatchObject({ code: 'not_found' });
      });

      it('keeps the examples a device declared with its first claim', async () => {
        round = await seed(await open(), 3, 2, 3);
        expect(await store.claimSlot(round.id, 'd0', 240)).toBe('selected');
        expect(await store.claimSlot(round.id, 'd1')).toBe('selected');
        expect((await store.getParticipant(round.id, 'd0'))?.declaredExamples).toBe(240);
        expect((await store.getParticipant(round.id, 'd1'))?.declaredExamples).toBeNull();
        // A second check-in cannot raise the count the device was selected with.
        expect(await store.claimSlot(round.id, 'd0', 1_000_000)).toBe('already-selected');
        expect((await store.listParticipants(round.id)).find((p) => p.deviceId === 'd0')?.declaredExamples).toBe(240);
        await expect(store.claimSlot(round.id, 'd2', 2 ** 53 - 1)).rejects.toMatchObject({ code: 'invalid' });
        await expect(store.claimSlot(round.id, 'd2', -1)).rejects.toMatchObject({ code: 'invalid' });
        expect((await store.getRound(round.id))?.selectedCount).toBe(2);
      });

      it('counts a repeated claim by the same device once', async () => {
        round = await seed(await open(), 1, 1, 2);
        const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.claimSlot(round.id, 'd0')));
        expect(outcomes.filter((o) => o === 'selected')).toHaveLength(1);
        expect((await store.getRound(round.id))?.selectedCount).toBe(1);
      });

      it('closes once: beginClosing elects one closer, finishRound drops unreported participants', async () => {
        round = await seed(await open(), 3, 2, 3);
        for (const d of ['d0', 'd1', 'd2']) expect(await store.claimSlot(round.id, d)).toBe('selected');
        await store.recordUpdate({
          roundId: round.id,
          deviceId: 'd0',
          blobHash: hashOf(1),
          byteLength: 10,
          numExamples: 5,
        });
        const votes = await Promise.all([1, 2, 3].map(() => store.beginClosing(round.id)));
        expect(votes.filter(Boolean)).toHaveLength(1);
        expect(await store.claimSlot(round.id, 'd9')).toBe('closed');
        const closed = await store.finishRound(round.id, {
          from: ['closing'],
          to: 'closed',
          resultVersion: 2,
          metrics: { loss: 0.3 },
        });
        expect(closed).toMatchObject({ status: 'closed', resultVersion: 2, metrics: { loss: 0.3 }, reportedCount: 1 });
        expect(closed?.closedAt).not.toBeNull();
        expect(await store.finishRound(round.id, { from: ['open', 'closing'], to: 'failed' })).toBeNull();
        const statuses = Object.fromEntries(
          (await store.listParticipants(round.id)).map((p) => [p.deviceId, p.status]),
        );
        expect(statuses).toEqual({ d0: 'reported', d1: 'dropped', d2: 'dropped' });
      });
    });

    describe('secure-aggregation round stats', () => {
      it('stores one row per round, replaces it whole, lists by id and refuses what does not parse', async () => {
        round = await seed(await open(), 0, 3, 3);
        expect(await store.getSecAggRoundStats(round.id)).toBeNull();
        const stats = {
          phase: 'advertise' as const,
          selected: 10,
          advertised: 0,
          shared: 0,
          masked: 0,
          unmasked: 0,
          abortReason: null,
          epsilonSpent: null,
        };
        await store.putSecAggRoundStats(round.id, stats);
        await store.putSecAggRoundStats(round.id, { ...stats, phase: 'done', advertised: 9, epsilonSpent: 1.5 });
        expect(await store.getSecAggRoundStats(round.id)).toEqual({
          ...stats,
          phase: 'done',
          advertised: 9,
          epsilonSpent: 1.5,
        });
        const listed = await store.listSecAggRoundStats([round.id, 'rnd_none']);
        expect([...listed.keys()]).toEqual([round.id]);
        expect(await store.listSecAggRoundStats([])).toEqual(new Map());
        await expect(store.putSecAggRoundStats(round.id, { ...stats, selected: -1 })).rejects.toMatchObject({
          code: 'invalid',
        });
        expect((await store.getSecAggRoundStats(round.id))?.advertised).toBe(9);
      });
    });

    describe('coordinator processes and round partials', () => {
      it('heartbeats processes, lists the live ones, and forgets a removed one', async () => {
        let clock = Date.parse('2030-01-01T00:00:00Z');
        await open({ now: () => new Date(clock) });
        await store.heartbeatProcess('p1');
        clock += 10_000;
        await store.heartbeatProcess('p2');
        await store.heartbeatProcess('p1');
        expect((await store.listLiveProcesses('2030-01-01T00:00:05Z')).map((p) => p.id)).toEqual(['p1', 'p2']);
        const p1 = (await store.listLiveProcesses('2030-01-01T00:00:00Z'))[0];
        expect(p1).toEqual({
          id: 'p1',
          startedAt: '2030-01-01T00:00:00.000Z',
          heartbeatAt: '2030-01-01T00:00:10.000Z',
        });
        expect(await store.listLiveProcesses('2030-01-01T00:00:11Z')).toEqual([]);
        await store.removeProcess('p2');
        expect((await store.listLiveProcesses('2030-01-01T00:00:00Z')).map((p) => p.id)).toEqual(['p1']);
        await expect(store.heartbeatProcess('')).rejects.toMatchObject({ code: 'invalid' });
      });

      it('stores one partial per round and process, checks its shape, and prunes those of finished rounds', async () => {
        round = await seed(await open(), 0, 1, 1);
        const partial = {
          roundId: round.id,
          processId: 'p1',
          deviceIds: ['d0', 'd1'],
          count: 2,
          totalWeight: 7.5,
          boundedCount: 1,
          maxUpdateNorm: 2.25,
          normBound: 1,
          sumHash: hashOf(5),
        };
        expect(await store.putRoundPartial(partial)).toBe(true);
        expect(await store.putRoundPartial({ ...partial, deviceIds: ['d9'], count: 1 })).toBe(false);
        expect(
          await store.putRoundPartial({
            roundId: round.id,
            processId: 'p2',
            deviceIds: [],
            count: 0,
            totalWeight: 0,
            boundedCount: 0,
            maxUpdateNorm: 0,
            normBound: null,
            sumHash: null,
          }),
        ).toBe(true);
        await expect(store.putRoundPartial({ ...partial, processId: 'p3', sumHash: null })).rejects.toMatchObject({
          code: 'invalid',
        });
        await expect(
          store.putRoundPartial({ ...partial, processId: 'p3', deviceIds: ['d0', 'd0'] }),
        ).rejects.toMatchObject({ code: 'invalid' });
        const listed = await store.listRoundPartials(round.id);
        expect(listed.map((p) => p.processId).sort()).toEqual(['p1', 'p2']);
        expect(listed.find((p) => p.processId === 'p1')).toMatchObject(partial);
        expect(await store.pruneRoundPartials()).toEqual([]);
        await store.beginClosing(round.id);
        await store.finishRound(round.id, { from: ['closing'], to: 'failed' });
        expect((await store.pruneRoundPartials()).map((p) => p.sumHash).sort()).toEqual([hashOf(5), null]);
        expect(await store.listRoundPartials(round.id)).toEqual([]);
        expect(await store.putRoundPartial(partial)).toBe(true);
        expect(await store.deleteRoundPartials(round.id)).toMatchObject([{ processId: 'p1', sumHash: hashOf(5) }]);
      });
    });

    describe('recordUpdate', () => {
      it('accepts once, returns the first receipt for duplicates, and refuses the unselected', async () => {
        round = await seed(await open(), 3, 2, 2);
        await store.claimSlot(round.id, 'd0');
        await store.claimSlot(round.id, 'd1');
        const first = await store.recordUpdate({
          roundId: round.id,
          deviceId: 'd0',
          blobHash: hashOf(1),
          byteLength: 100,
          numExamples: 32,
          preClipNorm: 2.5,
          meta: { epochs: 1 },
        });
        expect(first).toMatchObject({
          outcome: 'accepted',
          duplicate: false,
          reportedCount: 1,
          receipt: { blobHash: hashOf(1), numExamples: 32, preClipNorm: 2.5, meta: { epochs: 1 } },
        });
        const retry = await store.recordUpdate({
          roundId: round.id,
          deviceId: 'd0',
          blobHash: hashOf(2),
          byteLength: 7,
          numExamples: 1,
        });
        expect(retry.outcome).toBe('duplicate');
        if (retry.outcome !== 'duplicate' || first.outcome !== 'accepted') throw new Error('unreachable');
        expect(retry.receipt).toEqual(first.receipt);
        expect(retry.sameBlob).toBe(false);
        expect(
          await store.recordUpdate({
            roundId: round.id,
            deviceId: 'd2',
            blobHash: hashOf(3),
            byteLength: 1,
            numExamples: 1,
          }),
        ).toEqual({ outcome: 'not-selected', duplicate: false });
        expect((await store.getRound(round.id))?.reportedCount).toBe(1);
        expect((await store.getParticipant(round.id, 'd0'))?.status).toBe('reported');
        await expect(
          store.recordUpdate({ roundId: round.id, deviceId: 'd1', blobHash: '../../x', byteLength: 1, numExamples: 1 }),
        ).rejects.toMatchObject({ code: 'invalid' });
        await expect(
          store.recordUpdate({ roundId: 'nope', deviceId: 'd1', blobHash: hashOf(4), byteLength: 1, numExamples: 1 }),
        ).rejects.toMatchObject({ code: 'not_found' });
      });

      it('counts concurrent retries of one upload exactly once', async () => {
        round = await seed(await open(), 1, 1, 1);
        await store.claimSlot(round.id, 'd0');
        const results = await Promise.all(
          Array.from({ length: 20 }, () =>
            store.recordUpdate({
              roundId: round.id,
              deviceId: 'd0',
              blobHash: hashOf(9),
              byteLength: 3,
              numExamples: 3,
            }),
          ),
        );
        expect(results.filter((r) => r.outcome === 'accepted')).toHaveLength(1);
        expect(results.filter((r) => r.outcome === 'duplicate' && r.sameBlob)).toHaveLength(19);
        expect((await store.getRound(round.id))?.reportedCount).toBe(1);
        expect(await store.listUpdates(round.id)).toHaveLength(1);
      });

      it('refuses updates once the round is closing or closed, but still answers duplicates', async () => {
        round = await seed(await open(), 3, 3, 3);
        for (const d of ['d0', 'd1', 'd2']) await store.claimSlot(round.id, d);
        await store.recordUpdate({
          roundId: round.id,
          deviceId: 'd0',
          blobHash: hashOf(1),
          byteLength: 1,
          numExamples: 1,
        });
        expect(await store.beginClosing(round.id)).toBe(true);
        expect(
          await store.recordUpdate({
            roundId: round.id,
            deviceId: 'd1',
            blobHash: hashOf(2),
            byteLength: 1,
            numExamples: 1,
          }),
        ).toEqual({ outcome: 'round-closed', duplicate: false, status: 'closing' });
        await store.finishRound(round.id, { from: ['closing'], to: 'failed', failureReason: 'too few reports' });
        expect(
          await store.recordUpdate({
            roundId: round.id,
            deviceId: 'd2',
            blobHash: hashOf(3),
            byteLength: 1,
            numExamples: 1,
          }),
        ).toEqual({ outcome: 'round-closed', duplicate: false, status: 'failed' });
        expect(
          (
            await store.recordUpdate({
              roundId: round.id,
              deviceId: 'd0',
              blobHash: hashOf(1),
              byteLength: 1,
              numExamples: 1,
            })
          ).outcome,
        ).toBe('duplicate');
        expect(await store.getRound(round.id)).toMatchObject({
          reportedCount: 1,
          status: 'failed',
          failureReason: 'too few reports',
        });
        expect((await store.listUpdates(round.id)).map((u) => u.deviceId)).toEqual(['d0']);
      });

      it('lists updates in arrival order', async () => {
        round = await seed(await open(), 4, 4, 4);
        const order = ['d2', 'd0', 'd3', 'd1'];
        for (const d of order) await store.claimSlot(round.id, d);
        for (const [i, d] of order.entries())
          await store.recordUpdate({
            roundId: round.id,
            deviceId: d,
            blobHash: hashOf(i + 1),
            byteLength: 1,
            numExamples: 1,
          });
        expect((await store.listUpdates(round.id)).map((u) => u.deviceId)).toEqual(order);
        expect((await store.getUpdate(round.id, 'd3'))?.blobHash).toBe(hashOf(3));
      });
    });
  });
}
