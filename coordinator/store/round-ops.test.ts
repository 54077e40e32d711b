import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashSecret } from './identity-ops.ts';
import { openSqliteStore } from './sqlite-store.ts';
import type { Store } from './store.ts';
import type { Round } from './types.ts';

let dataDir: string;
let store: Store;
let round: Round;

async function seed(s: Store, devices: number, goal: number, selectionLimit: number): Promise<Round> {
  await s.transaction(async (tx) => {
    for (let i = 0; i < devices; i++) await tx.createDevice({ deviceId: `d${i}`, app: 'digits', tokenHash: hashSecret(`t${i}`) });
  });
  await s.createModelVersion({ app: 'digits', source: 'push', topology: {}, weightSpecs: [{ name: 'w', shape: [2] }], variants: [] });
  const task = await s.createTask({ app: 'digits', name: 'mnist', modelVersion: 1, plan: {}, budget: { epsilon: 4, delta: 1e-5 } });
  return s.createRound({ taskId: task.id, globalVersion: 1, goal, selectionLimit, deadlineAt: new Date(Date.now() + 60_000).toISOString() });
}

const hashOf = (n: number) => n.toString(16).padStart(64, '0');

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-rounds-'));
  store = await openSqliteStore({ dataDir });
});
afterEach(async () => {
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('rounds', () => {
  it('numbers rounds per task and lists them', async () => {
    round = await seed(store, 0, 2, 3);
    const second = await store.createRound({ taskId: round.taskId, globalVersion: 1, goal: 2, selectionLimit: 3, deadlineAt: '2030-01-01T00:00:00Z' });
    expect([round.number, second.number]).toEqual([1, 2]);
    expect(second.deadlineAt).toBe('2030-01-01T00:00:00.000Z');
    expect((await store.latestRound(round.taskId))?.id).toBe(second.id);
    expect((await store.listRounds({ taskId: round.taskId, status: ['open'], deadlineBefore: '2029-01-01T00:00:00Z' })).map((r) => r.id)).toEqual([round.id]);
    await expect(store.createRound({ taskId: round.taskId, globalVersion: 1, goal: 3, selectionLimit: 2, deadlineAt: '2030-01-01T00:00:00Z' })).rejects.toMatchObject({ code: 'invalid' });
    await expect(store.createRound({ taskId: round.taskId, globalVersion: 1, goal: 1, selectionLimit: 1, deadlineAt: 'soon' })).rejects.toMatchObject({ code: 'invalid' });
    await expect(store.createRound({ taskId: 'nope', globalVersion: 1, goal: 1, selectionLimit: 1, deadlineAt: '2030-01-01T00:00:00Z' })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('holds the over-selection limit under 50 concurrent claims', async () => {
    round = await seed(store, 50, 10, 13);
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

  it('counts a repeated claim by the same device once', async () => {
    round = await seed(store, 1, 1, 2);
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.claimSlot(round.id, 'd0')));
    expect(outcomes.filter((o) => o === 'selected')).toHaveLength(1);
    expect((await store.getRound(round.id))?.selectedCount).toBe(1);
  });

  it('closes once: beginClosing elects one closer, finishRound drops unreported participants', async () => {
    round = await seed(store, 3, 2, 3);
    for (const d of ['d0', 'd1', 'd2']) expect(await store.claimSlot(round.id, d)).toBe('selected');
    await store.recordUpdate({ roundId: round.id, deviceId: 'd0', blobHash: hashOf(1), byteLength: 10, numExamples: 5 });
    const votes = await Promise.all([1, 2, 3].map(() => store.beginClosing(round.id)));
    expect(votes.filter(Boolean)).toHaveLength(1);
    expect(await store.claimSlot(round.id, 'd9')).toBe('closed');
    const closed = await store.finishRound(round.id, { from: ['closing'], to: 'closed', resultVersion: 2, metrics: { loss: 0.3 } });
    expect(closed).toMatchObject({ status: 'closed', resultVersion: 2, metrics: { loss: 0.3 }, reportedCount: 1 });
    expect(closed?.closedAt).not.toBeNull();
    expect(await store.finishRound(round.id, { from: ['open', 'closing'], to: 'failed' })).toBeNull();
    const statuses = Object.fromEntries((await store.listParticipants(round.id)).map((p) => [p.deviceId, p.status]));
    expect(statuses).toEqual({ d0: 'reported', d1: 'dropped', d2: 'dropped' });
  });
});

describe('recordUpdate', () => {
  it('accepts once, returns the first receipt for duplicates, and refuses the unselected', async () => {
    round = await seed(store, 3, 2, 2);
    await store.claimSlot(round.id, 'd0');
    await store.claimSlot(round.id, 'd1');
    const first = await store.recordUpdate({ roundId: round.id, deviceId: 'd0', blobHash: hashOf(1), byteLength: 100, numExamples: 32, preClipNorm: 2.5, meta: { epochs: 1 } });
    expect(first).toMatchObject({ outcome: 'accepted', duplicate: false, reportedCount: 1, receipt: { blobHash: hashOf(1), numExamples: 32, preClipNorm: 2.5, meta: { epochs: 1 } } });
    const retry = await store.recordUpdate({ roundId: round.id, deviceId: 'd0', blobHash: hashOf(2), byteLength: 7, numExamples: 1 });
    expect(retry.outcome).toBe('duplicate');
    if (retry.outcome !== 'duplicate' || first.outcome !== 'accepted') throw new Error('unreachable');
    expect(retry.receipt).toEqual(first.receipt);
    expect(retry.sameBlob).toBe(false);
    expect(await store.recordUpdate({ roundId: round.id, deviceId: 'd2', blobHash: hashOf(3), byteLength: 1, numExamples: 1 }))
      .toEqual({ outcome: 'not-selected', duplicate: false });
    expect((await store.getRound(round.id))?.reportedCount).toBe(1);
    expect((await store.getParticipant(round.id, 'd0'))?.status).toBe('reported');
    await expect(store.recordUpdate({ roundId: round.id, deviceId: 'd1', blobHash: '../../x', byteLength: 1, numExamples: 1 })).rejects.toMatchObject({ code: 'invalid' });
    await expect(store.recordUpdate({ roundId: 'nope', deviceId: 'd1', blobHash: hashOf(4), byteLength: 1, numExamples: 1 })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('counts concurrent retries of one upload exactly once', async () => {
    round = await seed(store, 1, 1, 1);
    await store.claimSlot(round.id, 'd0');
    const results = await Promise.all(Array.from({ length: 20 }, () => store.recordUpdate({ roundId: round.id, deviceId: 'd0', blobHash: hashOf(9), byteLength: 3, numExamples: 3 })));
    expect(results.filter((r) => r.outcome === 'accepted')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'duplicate' && r.sameBlob)).toHaveLength(19);
    expect((await store.getRound(round.id))?.reportedCount).toBe(1);
    expect(await store.listUpdates(round.id)).toHaveLength(1);
  });

  it('refuses updates once the round is closing or closed, but still answers duplicates', async () => {
    round = await seed(store, 3, 3, 3);
    for (const d of ['d0', 'd1', 'd2']) await store.claimSlot(round.id, d);
    await store.recordUpdate({ roundId: round.id, deviceId: 'd0', blobHash: hashOf(1), byteLength: 1, numExamples: 1 });
    expect(await store.beginClosing(round.id)).toBe(true);
    expect(await store.recordUpdate({ roundId: round.id, deviceId: 'd1', blobHash: hashOf(2), byteLength: 1, numExamples: 1 }))
      .toEqual({ outcome: 'round-closed', duplicate: false, status: 'closing' });
    await store.finishRound(round.id, { from: ['closing'], to: 'failed', failureReason: 'too few reports' });
    expect(await store.recordUpdate({ roundId: round.id, deviceId: 'd2', blobHash: hashOf(3), byteLength: 1, numExamples: 1 }))
      .toEqual({ outcome: 'round-closed', duplicate: false, status: 'failed' });
    expect((await store.recordUpdate({ roundId: round.id, deviceId: 'd0', blobHash: hashOf(1), byteLength: 1, numExamples: 1 })).outcome).toBe('duplicate');
    expect((await store.getRound(round.id))).toMatchObject({ reportedCount: 1, status: 'failed', failureReason: 'too few reports' });
    expect((await store.listUpdates(round.id)).map((u) => u.deviceId)).toEqual(['d0']);
  });

  it('lists updates in arrival order', async () => {
    round = await seed(store, 4, 4, 4);
    const order = ['d2', 'd0', 'd3', 'd1'];
    for (const d of order) await store.claimSlot(round.id, d);
    for (const [i, d] of order.entries()) await store.recordUpdate({ roundId: round.id, deviceId: d, blobHash: hashOf(i + 1), byteLength: 1, numExamples: 1 });
    expect((await store.listUpdates(round.id)).map((u) => u.deviceId)).toEqual(order);
    expect((await store.getUpdate(round.id, 'd3'))?.blobHash).toBe(hashOf(3));
  });
});
