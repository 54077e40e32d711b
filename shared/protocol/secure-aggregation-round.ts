/**
 * The wire contract of a secure-aggregation round: what a selected device
 * and the coordinator exchange, on top of shared/secagg's phase messages.
 *
 * 1. Check-in: a task whose plan has `secureAggregation` answers `selected`
 *    with `secureAggregation`, a round configuration signed by the
 *    coordinator's Ed25519 manifest key. The device verifies it with the key
 *    it already trusts for manifests, and checks that it names the round it
 *    was selected for and the global weights it downloaded.
 * 2. The device trains, then runs the four phases through these routes
 *    (device bearer token; every body names the round and the device):
 *
 *      POST /v1/rounds/:roundId/secagg/advertise   AdvertiseKeys             -> 202 SecAggAccepted
 *      GET  /v1/rounds/:roundId/secagg/roster      -> SecAggAnswer<Roster>
 *      POST /v1/rounds/:roundId/secagg/shares      ShareKeys                 -> 202 SecAggAccepted
 *      GET  /v1/rounds/:roundId/secagg/shares      -> SecAggAnswer<ForwardedShares> (the ones addressed to it)
 *      PUT  /v1/rounds/:roundId/secagg/masked      header SECAGG_MASKED_HEADER = MaskedInput JSON,
 *                                                  body vectorLength little-endian uint32 -> 202 SecAggAccepted
 *      GET  /v1/rounds/:roundId/secagg/unmask      -> SecAggAnswer<UnmaskRequest>
 *      POST /v1/rounds/:roundId/secagg/unmask      UnmaskResponse            -> 202 SecAggAccepted
 *      GET  /v1/rounds/:roundId/secagg/status      -> SecAggRoundStats (any selected device)
 *
 *    A GET before its phase is ready answers `waiting` with retryAfterSeconds;
 *    after an abort every route answers `aborted` with the reason, so the
 *    device stops and learns why. Both are 200 with the JSON body (POST and PUT
 *    too: a POST or PUT after an abort answers 200 SecAggAborted, never a 4xx,
 *    so the device's transport reads the reason). Resending the same message
 *    (a retry after a lost answer) answers 202 SecAggAccepted again. A device
 *    not selected for the round gets 403, a message for another round or
 *    device 400, a message in the wrong phase 409.
 * 3. A phase closes when every device of the previous phase has sent its
 *    message, or at the phase's deadline in the signed configuration. Below
 *    `minSurvivors` at any phase the round aborts ('too_few_survivors').
 *
 * The aggregate is the equal-weight mean of the survivors' clipped updates
 * (the coordinator cannot weight what it cannot see; example counts are not
 * used), decoded from the distributed discrete Gaussian (shared/secagg/ddg.ts)
 * and applied by the task's server strategy like a FedAvg mean.
 */
import { z } from 'zod';
import { IdSchema, Sha256HexSchema, TimestampSchema } from './fields.ts';

/** Header carrying the masked input's JSON header next to its binary body. */
export const SECAGG_MASKED_HEADER = 'x-flock-secagg-masked';

/** Every route of a secure-aggregation round, by phase. */
export const secAggRoutes = {
  advertise: (roundId: string) => `/v1/rounds/${encodeURIComponent(roundId)}/secagg/advertise`,
  roster: (roundId: string) => `/v1/rounds/${encodeURIComponent(roundId)}/secagg/roster`,
  shares: (roundId: string) => `/v1/rounds/${encodeURIComponent(roundId)}/secagg/shares`,
  masked: (roundId: string) => `/v1/rounds/${encodeURIComponent(roundId)}/secagg/masked`,
  unmask: (roundId: string) => `/v1/rounds/${encodeURIComponent(roundId)}/secagg/unmask`,
  status: (roundId: string) => `/v1/rounds/${encodeURIComponent(roundId)}/secagg/status`,
} as const;

export const SecAggPhaseSchema = z.enum(['advertise', 'share', 'mask', 'unmask', 'done', 'aborted']);
export type SecAggPhase = z.infer<typeof SecAggPhaseSchema>;

export const SecAggAbortReasonSchema = z.enum([
  /** Fewer than minSurvivors devices left at some phase. */
  'too_few_survivors',
  /** A surviving device had fewer than t live neighbours: its mask cannot be removed. */
  'too_few_neighbours',
  /** The coordinator restarted during the round (phase state is not kept across restarts). */
  'coordinator_restarted',
  /** The operator paused or stopped the task. */
  'task_stopped',
  /** Unmasking failed (e.g. a rebuilt key did not match its advertised public key). */
  'unmask_failed',
]);
export type SecAggAbortReason = z.infer<typeof SecAggAbortReasonSchema>;

const Base64Bytes32Schema = z
  .string()
  .length(44)
  .regex(/^[A-Za-z0-9+/]{43}=$/, 'expected 32 bytes, standard padded base64');

/** What the devices sign up to before sending anything: the round, the model and every parameter. */
export const SecAggRoundConfigSchema = z.strictObject({
  type: z.literal('secagg.round-config'),
  version: z.literal(1),
  roundId: IdSchema,
  taskId: IdSchema,
  roundNumber: z.int().min(1),
  /** SHA-256 (hex) of the round's global-weights blob: the device refuses a round whose weights it did not get. */
  globalWeightsHash: Sha256HexSchema,
  /** Float parameters in one flattened update (the trainable weights, in the version's order). */
  dimension: z
    .int()
    .min(1)
    .max(1 << 27),
  /** uint32 words in each masked input (the DDG's padded dimension). */
  vectorLength: z
    .int()
    .min(1)
    .max(1 << 28),
  /** The DDG options (shared/secagg/ddg.ts DdgOptions); devices and server derive the same plan with planDdg. */
  ddg: z.strictObject({
    clipNorm: z.number().positive(),
    noiseMultiplier: z.number().min(0),
    bits: z.int().min(2).max(31),
    maxDevices: z.int().min(2),
    minSurvivors: z.int().min(2),
    granularity: z.number().positive(),
  }),
  /** Public per-round seed of the randomised Hadamard rotation (32 random bytes, base64). */
  rotationSeed: Base64Bytes32Schema,
  /** The graph the roster must satisfy: sizing inputs, and k / t when the plan fixed them. */
  graph: z.strictObject({
    dropoutFraction: z.number().min(0).lt(1),
    colluders: z.int().min(0),
    neighbours: z.int().min(2).max(255).optional(),
    threshold: z.int().min(2).max(255).optional(),
  }),
  /** Each phase's last instant; a phase closes earlier when every device of the previous one has sent. */
  deadlines: z.strictObject({
    advertiseBy: TimestampSchema,
    shareBy: TimestampSchema,
    maskBy: TimestampSchema,
    unmaskBy: TimestampSchema,
  }),
  issuedAt: TimestampSchema,
});
export type SecAggRoundConfig = z.infer<typeof SecAggRoundConfigSchema>;

/** The configuration with its detached Ed25519 signature over canonicalJsonBytes(config), by the manifest key. */
export const SignedSecAggRoundConfigSchema = z.strictObject({
  config: SecAggRoundConfigSchema,
  keyId: z.string().min(1).max(128),
  /** 64 bytes, base64. */
  signature: z
    .string()
    .length(88)
    .regex(/^[A-Za-z0-9+/]{86}==$/, 'expected a 64-byte Ed25519 signature, standard padded base64'),
});
export type SignedSecAggRoundConfig = z.infer<typeof SignedSecAggRoundConfigSchema>;

export const SecAggAcceptedSchema = z.strictObject({
  status: z.literal('accepted'),
  phase: SecAggPhaseSchema,
});
export type SecAggAccepted = z.infer<typeof SecAggAcceptedSchema>;

export const SecAggWaitingSchema = z.strictObject({
  status: z.literal('waiting'),
  phase: SecAggPhaseSchema,
  retryAfterSeconds: z.number().min(0).max(3600),
});
export const SecAggAbortedSchema = z.strictObject({
  status: z.literal('aborted'),
  reason: SecAggAbortReasonSchema,
  message: z.string().max(2000),
});
export type SecAggAborted = z.infer<typeof SecAggAbortedSchema>;

/** A phase GET's answer: the message when ready, else wait or stop. */
export function secAggAnswerSchema<M extends z.ZodType>(message: M) {
  return z.discriminatedUnion('status', [
    z.strictObject({ status: z.literal('ready'), message }),
    SecAggWaitingSchema,
    SecAggAbortedSchema,
  ]);
}

/** Per round: how many devices made it through each phase (dashboard, `flock task rounds`). */
export const SecAggRoundStatsSchema = z.strictObject({
  phase: SecAggPhaseSchema,
  selected: z.int().min(0),
  advertised: z.int().min(0),
  shared: z.int().min(0),
  masked: z.int().min(0),
  unmasked: z.int().min(0),
  abortReason: SecAggAbortReasonSchema.nullable(),
  /** Epsilon charged for this round by the DDG accountant (the round's own, before composition); null until charged. */
  epsilonSpent: z.number().min(0).nullable(),
});
export type SecAggRoundStats = z.infer<typeof SecAggRoundStatsSchema>;
