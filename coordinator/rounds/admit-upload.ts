/**
 * Whether one uploaded update may be recorded: its meta header, round, task,
 * device and selection, deadline and size, then the update itself
 * (validate-update.ts). Reads the store, writes nothing. A replay of an
 * update already stored gets its first receipt; anything refused is an
 * ApiError naming why.
 *
 * The example count an update is weighted by is the device's claim, so it is
 * admitted as min(claimed, declared at check-in, plan.maxExamplesPerDevice)
 * (`admittedExamples`) rather than refused: an honest device may record
 * examples between its check-in and its training.
 */
import {
  TaskPlanSchema,
  parseUpdateMetaHeader,
  type TaskPlan,
  type UpdateMeta,
  type UpdateReceipt,
} from '../../shared/protocol/index.ts';
import { trainableWeightSpecs, type WeightSpec } from '../../shared/model/index.ts';
import { ApiError } from '../http/api-error.ts';
import type { JsonObject, ModelVersion, Round, Store, Task } from '../store/index.ts';
import { frozenLayersOf } from './frozen-layers.ts';
import { maxUpdateBytes, updateNormBound, validateUpdate } from './validate-update.ts';

export type Admission =
  | { status: 'replay'; receipt: UpdateReceipt }
  | {
      status: 'admitted';
      meta: UpdateMeta;
      admittedExamples: number;
      round: Round;
      task: Task;
      plan: TaskPlan;
      specs: WeightSpec[];
      clipNorm: number;
      deltas: Float32Array[];
    };

/** What is known before the body is read: a replay, or a device allowed to send at most `maxBytes`. */
export type HeaderAdmission =
  | { status: 'replay'; receipt: UpdateReceipt }
  | {
      status: 'admitted';
      meta: UpdateMeta;
      admittedExamples: number;
      round: Round;
      task: Task;
      plan: TaskPlan;
      specs: WeightSpec[];
      /** The layers the round's version freezes: absent from the update, which carries the rest. */
      frozenLayers: ReadonlySet<string>;
      clipNorm: number;
      maxBytes: number;
    };

export function parsePlan(task: Task): TaskPlan {
  return TaskPlanSchema.parse(task.plan);
}

/** The model version a task or round refers to; its absence is the coordinator's fault. */
export async function requireModelVersion(store: Store, app: string, version: number): Promise<ModelVersion> {
  const v = await store.getModelVersion(app, version);
  if (!v) throw new ApiError('internal', `model ${app}@${version} referenced by a task is missing`);
  return v;
}

/**
 * The examples an update counts for: what it claims, at most what the device
 * declared at check-in (unknown for selections older than that record) and
 * at most the plan's cap.
 *
 * @example admittedExamples(2 ** 53 - 1, 100, plan) // 100
 */
export function admittedExamples(
  claimed: number,
  declared: number | null,
  plan: Pick<TaskPlan, 'maxExamplesPerDevice'>,
): number {
  return Math.min(claimed, declared ?? Number.POSITIVE_INFINITY, plan.maxExamplesPerDevice);
}

/** The largest update norm accepted for this plan and model (clip norm, widened by local DP noise). */
export function planNormBound(plan: TaskPlan, clipNorm: number, specs: readonly WeightSpec[]): number {
  return updateNormBound(
    clipNorm,
    plan.localNoiseMultiplier,
    specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0),
  );
}

/**
 * Everything that can be decided without the body: the meta header, round,
 * task, device and selection, replay, deadline, and the largest update this
 * model allows. The upload route calls it before reading a byte.
 *
 * @example
 * const a = await admitHeader(store, Date.now(), device, roundId, c.req.header(UPDATE_META_HEADER));
 * if (a.status === 'admitted') bytes = await readBodyCapped(c.req.raw, a.maxBytes);
 */
export async function admitHeader(
  store: Store,
  nowMs: number,
  device: { deviceId: string; app: string },
  roundId: string,
  metaHeader: string | undefined,
): Promise<HeaderAdmission> {
  const parsed = parseUpdateMetaHeader(metaHeader);
  if (!parsed.ok)
    throw new ApiError('validation_failed', `bad flock-update-meta header: ${parsed.error.error.message}`, {
      issues: parsed.error.error.details as JsonObject,
    });
  const meta = parsed.value;
  if (meta.roundId !== roundId)
    throw new ApiError('bad_request', `flock-update-meta names round ${meta.roundId} but the URL names ${roundId}`);
  if (meta.deviceId !== device.deviceId) throw new ApiError('forbidden', 'a device can only upload its own update');

  const round = await store.getRound(roundId);
  if (!round) throw new ApiError('round_not_found', `no round ${roundId}`);
  const task = (await store.getTask(round.taskId))!;
  if (task.app !== device.app) throw new ApiError('round_not_found', `no round ${roundId}`);
  const first = await store.getUpdate(roundId, device.deviceId);
  if (first)
    return {
      status: 'replay',
      receipt: { roundId, deviceId: device.deviceId, accepted: true, duplicate: true, receivedAt: first.receivedAt },
    };
  if (round.status !== 'open')
    throw new ApiError('round_closed', `round ${round.number} is ${round.status}; check in for the next round`);
  if (Date.parse(round.deadlineAt) < nowMs)
    throw new ApiError('late_upload', `round ${round.number} closed for uploads at ${round.deadlineAt}`);
  const participant = await store.getParticipant(roundId, device.deviceId);
  if (!participant) throw new ApiError('not_selected', 'this device was not selected for this round; check in first');

  const plan = parsePlan(task);
  const version = await requireModelVersion(store, task.app, round.globalVersion);
  const specs = version.weightSpecs as WeightSpec[];
  const frozenLayers = await frozenLayersOf(store, version);
  const clipNorm = task.clipNorm ?? plan.clipNorm;
  const examples = admittedExamples(meta.numExamples, participant.declaredExamples, plan);
  return {
    status: 'admitted',
    meta,
    admittedExamples: examples,
    round,
    task,
    plan,
    specs,
    frozenLayers,
    clipNorm,
    maxBytes: maxUpdateBytes(trainableWeightSpecs(specs, frozenLayers)),
  };
}

/**
 * The header checks and then the body's. A caller that already ran
 * `admitHeader` for this request passes its answer as `head`, so the five
 * store reads are not repeated; only the deadline is checked again (the body
 * took time to arrive). The round closing or a replay racing in meanwhile is
 * caught where the row is written (`recordUpdate`), atomically.
 *
 * @example
 * const a = await admitUpload(store, Date.now(), device, roundId, c.req.header(UPDATE_META_HEADER), bytes);
 * if (a.status === 'replay') return a.receipt;
 */
export async function admitUpload(
  store: Store,
  nowMs: number,
  device: { deviceId: string; app: string },
  roundId: string,
  metaHeader: string | undefined,
  bytes: Uint8Array,
  known?: HeaderAdmission,
): Promise<Admission> {
  const head = sameRequest(known, device, roundId)
    ? known
    : await admitHeader(store, nowMs, device, roundId, metaHeader);
  if (head.status === 'replay') return head;
  if (Date.parse(head.round.deadlineAt) < nowMs)
    throw new ApiError('late_upload', `round ${head.round.number} closed for uploads at ${head.round.deadlineAt}`);
  const { meta, admittedExamples: examples, round, task, plan, specs, frozenLayers, clipNorm, maxBytes } = head;
  if (bytes.byteLength > maxBytes)
    throw new ApiError(
      'payload_too_large',
      `update of ${bytes.byteLength} bytes is larger than any valid update for this model`,
    );
  const { deltas } = validateUpdate(
    bytes,
    specs,
    {
      // The device noises only what it sends, so the bound counts the trainable parameters.
      clipNorm: planNormBound(plan, clipNorm, trainableWeightSpecs(specs, frozenLayers)),
      encoding: plan.updateEncoding,
    },
    frozenLayers,
  );
  return { status: 'admitted', meta, admittedExamples: examples, round, task, plan, specs, clipNorm, deltas };
}

/** Whether a header admission was made for this device's upload to this round. */
function sameRequest(
  head: HeaderAdmission | undefined,
  device: { deviceId: string },
  roundId: string,
): head is HeaderAdmission & { status: 'admitted' } {
  return head?.status === 'admitted' && head.meta.roundId === roundId && head.meta.deviceId === device.deviceId;
}
