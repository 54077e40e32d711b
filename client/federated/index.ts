/**
 * The platform-neutral client core of federated rounds: an HTTP transport for
 * the device routes, local training into a clipped, encoded update (used by
 * the training API the worker exposes, and by the simulator), and `participateOnce`, a
 * one-shot participation that only Node integration tests use (the SDK's
 * rounds run in client/training/round-loop.ts).
 *
 * @example
 * import { FlockTransport, participateOnce, createParticipantCache } from './client/federated/index.ts';
 * const transport = new FlockTransport({ baseUrl: 'http://127.0.0.1:8787' });
 * const { deviceId, app } = await transport.register({ app: 'digits', platform: { runtime: 'node' } });
 * const result = await participateOnce({ transport, deviceId, app, taskId, examples, cache: createParticipantCache() });
 */
export { FlockTransport } from './transport.ts';
export type { TransportOptions, ManifestAnswer } from './transport.ts';
export { FlockHttpError } from './transport-error.ts';
export type { TransportErrorCode } from './transport-error.ts';
export { DEFAULT_RETRY_POLICY, backoffDelayMs, isRetryableStatus, parseRetryAfterSeconds } from './retry-policy.ts';
export type { RetryPolicy } from './retry-policy.ts';
export { trainLocalUpdate } from './local-training.ts';
export type { LocalTrainingInput, LocalUpdate, TrainingExamples } from './local-training.ts';
export { participateOnce, createParticipantCache } from './participant.ts';
export type {
  ParticipateInput,
  ParticipationResult,
  ParticipationRetryReason,
  ParticipantCache,
} from './participant.ts';
