/**
 * Secure aggregation for Flock: SecAgg+ (Bell et al., CCS 2020) over the
 * four rounds of Bonawitz et al. (CCS 2017). The coordinator learns the sum
 * mod 2^32 of the survivors' quantised updates and nothing about any one of
 * them. See README.md for the threat model and what is not wired in yet.
 *
 * @example
 * import { SecAggDevice, SecAggServer, quantise, dequantiseSum } from 'flock/shared/secagg';
 * const q = { clipRange: 0.05, bits: 16, maxDevices: 1000 };
 * const device = await SecAggDevice.create(roundId, deviceId);       // device
 * const server = new SecAggServer({ roundId, vectorLength });        // coordinator
 * // advertise -> roster -> share keys -> forwarded shares -> masked input -> unmask request -> responses
 * const { sum, survivors } = await server.finish();
 * const total = dequantiseSum(sum, q);
 */
export { SecAggDevice, type DevicePhase, type DevicePolicy } from './device.ts';
export { SecAggServer, type SecAggServerOptions, type SecAggResult, type ServerPhase } from './server.ts';
export { SecAggError, type SecAggErrorCode } from './secagg-error.ts';
export {
  checkSecAggParameters,
  isCompleteGraph,
  minimumNeighbours,
  planSecAgg,
  recoveryFailureProbability,
  safeThreshold,
  MAX_NEIGHBOURS,
  type PlanOptions,
  type SecAggParameters,
} from './parameters.ts';
export { checkQuantisation, dequantiseSum, quantise, quantisationLevels, type QuantisationConfig } from './quantise.ts';
export {
  buildNeighbourGraph,
  neighbourGraphSeed,
  type AdvertisedKeys,
  type NeighbourGraph,
} from './neighbour-graph.ts';
export { maskStream, maskStreamBytes } from './mask-stream.ts';
export { encodeContext, pairContext, selfMaskContext, CONTEXT_LABEL, type ContextPurpose } from './context.ts';
export * from './messages.ts';
export {
  checkDdgBits,
  chooseGranularity,
  ddgPrivacyEvent,
  decodeDdgSum,
  encodeDdg,
  planDdg,
  sumCoordinateStddev,
  type DdgOptions,
  type DdgPlan,
  type DdgRound,
} from './ddg.ts';
export { paddedLength, rotate, rotationSigns, unrotate, walshHadamardInPlace } from './hadamard-rotation.ts';
export { DEFAULT_ROUNDING_BETA, roundConditionally, roundingNormBound } from './conditional-rounding.ts';
export { ddgOptionsOfTask, type SecureAggregationTaskPlan } from './ddg-task-plan.ts';
