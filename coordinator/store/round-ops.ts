/**
 * Rounds, check-in selection and update receipts: the operations that must
 * stay correct when many devices hit the coordinator at once and when the
 * process dies between any two statements.
 *
 * Each guarded change is a conditional UPDATE (`... where status = 'open' and
 * selected_count < selection_limit`) run inside a transaction, so the same code
 * is race-free on SQLite (one writer at a time) and on PostgreSQL (the UPDATE
 * takes the round's row lock). The compensating writes below never run on
 * SQLite; they cover PostgreSQL races that a serialized writer cannot have.
 */
import { assertBlobHash } from './blob-store.ts';
import { StoreError } from './errors.ts';
import { isForeignKeyViolation, isoTime, isUniqueViolation, nextCounter, pageLimit, pageOffset } from './context.ts';
import type { OpsContext } from './context.ts';
import { toJson, toParticipant, toReceipt, toRound } from './rows.ts';
import type { RoundsTable } from './schema.ts';
import type { StoreOps } from './store.ts';
import type { RoundStatus } from './types.ts';

type RoundOps = Pick<
  StoreOps,
  | 'createRound'
  | 'getRound'
  | 'latestRound'
  | 'listRounds'
  | 'beginClosing'
  | 'finishRound'
  | 'claimSlot'
  | 'getParticipant'
  | 'listParticipants'
  | 'recordUpdate'
  | 'getUpdate'
  | 'listUpdates'
>;

function assertCount(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new StoreError('invalid', `${name} must be an integer >= ${min}, got ${value}.`);
}

/** Largest value of an `integer` column on PostgreSQL (int4); SQLite would take more, so both refuse it here. */
const INT4_MAX = 2 ** 31 - 1;

type Executor = OpsContext['db'];
type RecordUpdateResult = Awaited<ReturnType<StoreOps['recordUpdate']>>;

/**
 * The common case of `recordUpdate` in three guarded writes and no read: a
 * selected device's first update to an open round (count it, mark the
 * device reported, insert the row). Each write says by its row count whether
 * its guard held; if one did not, the writes before it are undone in the same
 * transaction and null sends the caller to the full checks, which name the
 * outcome (duplicate, round closed, not selected, no such round). Issue 15:
 * this was six statements per durable update (three reads first). The round's
 * row is written first, as before, so on PostgreSQL every recordUpdate of a
 * round still queues on that row lock in the same order (no deadlock).
 */
async function recordFirstUpdate(
  db: Executor,
  input: Parameters<StoreOps['recordUpdate']>[0],
  at: string,
): Promise<RecordUpdateResult | null> {
  const counted = await db
    .updateTable('rounds')
    .set((eb) => ({ reported_count: eb('reported_count', '+', 1) }))
    .where('id', '=', input.roundId)
    .where('status', '=', 'open')
    .returning('reported_count')
    .executeTakeFirst();
  if (!counted) return null;
  const uncount = () =>
    db
      .updateTable('rounds')
      .set((eb) => ({ reported_count: eb('reported_count', '-', 1) }))
      .where('id', '=', input.roundId)
      .execute();
  const claimed = await db
    .updateTable('round_participants')
    .set({ status: 'reported', reported_at: at })
    .where('round_id', '=', input.roundId)
    .where('device_id', '=', input.deviceId)
    .where('status', '=', 'selected')
    .returning('device_id')
    .executeTakeFirst();
  if (!claimed) {
    await uncount();
    return null;
  }
  const row = {
    round_id: input.roundId,
    device_id: input.deviceId,
    blob_hash: input.blobHash,
    byte_length: input.byteLength,
    num_examples: input.numExamples,
    pre_clip_norm: input.preClipNorm ?? null,
    meta: toJson(input.meta ?? {}),
    received_at: at,
  };
  const inserted = await db
    .insertInto('updates')
    .values(row)
    .onConflict((oc) => oc.columns(['round_id', 'device_id']).doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1)
    return {
      outcome: 'accepted',
      duplicate: false,
      receipt: toReceipt(row),
      reportedCount: Number(counted.reported_count),
    };
  // A row without its participant marked reported (written by another path): undo both, let the checks answer.
  await db
    .updateTable('round_participants')
    .set({ status: 'selected', reported_at: null })
    .where('round_id', '=', input.roundId)
    .where('device_id', '=', input.deviceId)
    .execute();
  await uncount();
  return null;
}

export function roundOps(ctx: OpsContext): RoundOps {
  return {
    async createRound(input) {
      assertCount('goal', input.goal, 1);
      assertCount('selectionLimit', input.selectionLimit, input.goal);
      const deadlineAt = isoTime(input.deadlineAt, 'deadlineAt');
      return ctx.atomic(async (db) => {
        const task = await db.selectFrom('tasks').select('id').where('id', '=', input.taskId).executeTakeFirst();
        if (!task) throw new StoreError('not_found', `Task ${input.taskId} does not exist.`, { taskId: input.taskId });
        const row: RoundsTable = {
          id: input.id ?? ctx.newId(),
          task_id: input.taskId,
          number: await nextCounter(db, 'round_number', input.taskId),
          status: 'open',
          global_version: input.globalVersion,
          goal: input.goal,
          selection_limit: input.selectionLimit,
          selected_count: 0,
          reported_count: 0,
          started_at: ctx.now(),
          deadline_at: deadlineAt,
          closed_at: null,
          result_version: null,
          failure_reason: null,
          metrics: '{}',
        };
        try {
          await db.insertInto('rounds').values(row).execute();
        } catch (e) {
          if (isUniqueViolation(e))
            throw new StoreError('conflict', `Round ${row.id} already exists.`, { id: row.id }, { cause: e });
          throw e;
        }
        return toRound(row);
      });
    },
    async getRound(id) {
      const row = await ctx.db.selectFrom('rounds').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toRound(row) : null;
    },
    async latestRound(taskId) {
      const row = await ctx.db
        .selectFrom('rounds')
        .selectAll()
        .where('task_id', '=', taskId)
        .orderBy('number', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? toRound(row) : null;
    },
    async listRounds(query = {}) {
      let q = ctx.db.selectFrom('rounds').selectAll();
      if (query.taskId !== undefined) q = q.where('task_id', '=', query.taskId);
      if (query.status !== undefined) {
        if (query.status.length === 0) return [];
        q = q.where('status', 'in', query.status);
      }
      if (query.deadlineBefore !== undefined) q = q.where('deadline_at', '<', query.deadlineBefore);
      const rows = await q
        .orderBy('started_at', 'desc')
        .orderBy('number', 'desc')
        .limit(pageLimit(query.limit))
        .offset(pageOffset(query.offset))
        .execute();
      return rows.map(toRound);
    },
    async beginClosing(roundId) {
      const r = await ctx.db
        .updateTable('rounds')
        .set({ status: 'closing' })
        .where('id', '=', roundId)
        .where('status', '=', 'open')
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async finishRound(roundId, finish) {
      if (finish.from.length === 0) throw new StoreError('invalid', 'finishRound needs at least one `from` status.');
      return ctx.atomic(async (db) => {
        const set: Partial<RoundsTable> = {
          status: finish.to,
          closed_at: ctx.now(),
          result_version: finish.resultVersion ?? null,
          failure_reason: finish.failureReason ?? null,
        };
        if (finish.metrics !== undefined) set.metrics = toJson(finish.metrics);
        const r = await db
          .updateTable('rounds')
          .set(set)
          .where('id', '=', roundId)
          .where('status', 'in', finish.from)
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) {
          const exists = await db.selectFrom('rounds').select('id').where('id', '=', roundId).executeTakeFirst();
          if (!exists) throw new StoreError('not_found', `Round ${roundId} does not exist.`, { roundId });
          return null;
        }
        await db
          .updateTable('round_participants')
          .set({ status: 'dropped' })
          .where('round_id', '=', roundId)
          .where('status', '=', 'selected')
          .execute();
        return toRound(await db.selectFrom('rounds').selectAll().where('id', '=', roundId).executeTakeFirstOrThrow());
      });
    },

    async claimSlot(roundId, deviceId, declaredExamples) {
      if (declaredExamples !== undefined) {
        assertCount('declaredExamples', declaredExamples, 0);
        if (declaredExamples > INT4_MAX)
          throw new StoreError(
            'invalid',
            `declaredExamples must be at most ${INT4_MAX}, got ${declaredExamples}; cap it by the plan first.`,
          );
      }
      return ctx.atomic(async (db) => {
        const round = await db.selectFrom('rounds').select(['status']).where('id', '=', roundId).executeTakeFirst();
        if (!round) throw new StoreError('not_found', `Round ${roundId} does not exist.`, { roundId });
        const existing = await db
          .selectFrom('round_participants')
          .select('status')
          .where('round_id', '=', roundId)
          .where('device_id', '=', deviceId)
          .executeTakeFirst();
        if (existing) return 'already-selected';
        if (round.status !== 'open') return 'closed';
        const r = await db
          .updateTable('rounds')
          .set((eb) => ({ selected_count: eb('selected_count', '+', 1) }))
          .where('id', '=', roundId)
          .where('status', '=', 'open')
          .where((eb) => eb('selected_count', '<', eb.ref('selection_limit')))
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) {
          const now = await db
            .selectFrom('rounds')
            .select('status')
            .where('id', '=', roundId)
            .executeTakeFirstOrThrow();
          return now.status === 'open' ? 'full' : 'closed';
        }
        try {
          const inserted = await db
            .insertInto('round_participants')
            .values({
              round_id: roundId,
              device_id: deviceId,
              status: 'selected',
              selected_at: ctx.now(),
              reported_at: null,
              declared_examples: declaredExamples ?? null,
            })
            .onConflict((oc) => oc.columns(['round_id', 'device_id']).doNothing())
            .executeTakeFirst();
          if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return 'selected';
        } catch (e) {
          if (isForeignKeyViolation(e))
            throw new StoreError('not_found', `Device ${deviceId} is not registered.`, { deviceId }, { cause: e });
          throw e;
        }
        // Lost a race for the same device (PostgreSQL only): give the slot back.
        await db
          .updateTable('rounds')
          .set((eb) => ({ selected_count: eb('selected_count', '-', 1) }))
          .where('id', '=', roundId)
          .execute();
        return 'already-selected';
      });
    },
    async getParticipant(roundId, deviceId) {
      const row = await ctx.db
        .selectFrom('round_participants')
        .selectAll()
        .where('round_id', '=', roundId)
        .where('device_id', '=', deviceId)
        .executeTakeFirst();
      return row ? toParticipant(row) : null;
    },
    async listParticipants(roundId) {
      const rows = await ctx.db
        .selectFrom('round_participants')
        .selectAll()
        .where('round_id', '=', roundId)
        .orderBy('selected_at')
        .orderBy('device_id')
        .execute();
      return rows.map(toParticipant);
    },

    async recordUpdate(input) {
      assertBlobHash(input.blobHash);
      assertCount('byteLength', input.byteLength, 0);
      assertCount('numExamples', input.numExamples, 0);
      return ctx.atomic(async (db) => {
        const accepted = await recordFirstUpdate(db, input, ctx.now());
        if (accepted) return accepted;
        const first = await db
          .selectFrom('updates')
          .selectAll()
          .where('round_id', '=', input.roundId)
          .where('device_id', '=', input.deviceId)
          .executeTakeFirst();
        if (first)
          return {
            outcome: 'duplicate',
            duplicate: true,
            receipt: toReceipt(first),
            sameBlob: first.blob_hash === input.blobHash,
          };
        const round = await db.selectFrom('rounds').select('status').where('id', '=', input.roundId).executeTakeFirst();
        if (!round)
          throw new StoreError('not_found', `Round ${input.roundId} does not exist.`, { roundId: input.roundId });
        if (round.status !== 'open')
          return { outcome: 'round-closed', duplicate: false, status: round.status as RoundStatus };
        const participant = await db
          .selectFrom('round_participants')
          .select('status')
          .where('round_id', '=', input.roundId)
          .where('device_id', '=', input.deviceId)
          .executeTakeFirst();
        if (participant?.status === 'reported') {
          // A concurrent upload of the same update committed after our first look (PostgreSQL only).
          const winner = await db
            .selectFrom('updates')
            .selectAll()
            .where('round_id', '=', input.roundId)
            .where('device_id', '=', input.deviceId)
            .executeTakeFirst();
          if (winner)
            return {
              outcome: 'duplicate',
              duplicate: true,
              receipt: toReceipt(winner),
              sameBlob: winner.blob_hash === input.blobHash,
            };
        }
        if (!participant || participant.status !== 'selected') return { outcome: 'not-selected', duplicate: false };

        // Counting first takes the round's row lock on PostgreSQL and re-checks it is still open.
        const counted = await db
          .updateTable('rounds')
          .set((eb) => ({ reported_count: eb('reported_count', '+', 1) }))
          .where('id', '=', input.roundId)
          .where('status', '=', 'open')
          .returning('reported_count')
          .executeTakeFirst();
        if (!counted) {
          const now = await db
            .selectFrom('rounds')
            .select('status')
            .where('id', '=', input.roundId)
            .executeTakeFirstOrThrow();
          return { outcome: 'round-closed', duplicate: false, status: now.status as RoundStatus };
        }
        const at = ctx.now();
        const row = {
          round_id: input.roundId,
          device_id: input.deviceId,
          blob_hash: input.blobHash,
          byte_length: input.byteLength,
          num_examples: input.numExamples,
          pre_clip_norm: input.preClipNorm ?? null,
          meta: toJson(input.meta ?? {}),
          received_at: at,
        };
        const inserted = await db
          .insertInto('updates')
          .values(row)
          .onConflict((oc) => oc.columns(['round_id', 'device_id']).doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) !== 1) {
          // A concurrent upload of the same update won (PostgreSQL only): undo our count, return its receipt.
          await db
            .updateTable('rounds')
            .set((eb) => ({ reported_count: eb('reported_count', '-', 1) }))
            .where('id', '=', input.roundId)
            .execute();
          const winner = await db
            .selectFrom('updates')
            .selectAll()
            .where('round_id', '=', input.roundId)
            .where('device_id', '=', input.deviceId)
            .executeTakeFirstOrThrow();
          return {
            outcome: 'duplicate',
            duplicate: true,
            receipt: toReceipt(winner),
            sameBlob: winner.blob_hash === input.blobHash,
          };
        }
        await db
          .updateTable('round_participants')
          .set({ status: 'reported', reported_at: at })
          .where('round_id', '=', input.roundId)
          .where('device_id', '=', input.deviceId)
          .execute();
        return {
          outcome: 'accepted',
          duplicate: false,
          receipt: toReceipt(row),
          reportedCount: Number(counted.reported_count),
        };
      });
    },
    async getUpdate(roundId, deviceId) {
      const row = await ctx.db
        .selectFrom('updates')
        .selectAll()
        .where('round_id', '=', roundId)
        .where('device_id', '=', deviceId)
        .executeTakeFirst();
      return row ? toReceipt(row) : null;
    },
    async listUpdates(roundId) {
      const rows = await ctx.db
        .selectFrom('updates')
        .selectAll()
        .where('round_id', '=', roundId)
        .orderBy('seq')
        .execute();
      return rows.map(toReceipt);
    },
  };
}
