/**
 * The platform-neutral client core of federated rounds: an HTTP transport for
 * the device routes (every SDK request goes through it) and local training into
 * a clipped, encoded update (used by the training API the worker exposes, and
 * by the simulator). A device's round itself runs in one place,
 * client/training/round-loop.ts (`TrainingScheduler`).
 *
 * @example
 * import { FlockTransport } from './client/federated/index.ts';
 * const transport = new FlockTransport({ baseUrl: 'http://127.0.0.1:8787' });
 * const { deviceId } = await transport.register({ app: 'digits', platform: { runtime: 'node' } });
 * const answer = await transport.checkIn('task_1', { deviceId, taskId: 'task_1', numExamples: 500 });
 */
export { FlockTransport } from './transport.ts';
export type { TransportOptions, ManifestAnswer } from './transport.ts';
export { FlockHttpError } from './transport-error.ts';
export type { TransportErrorCode } from './transport-error.ts';
export { DEFAULT_RETRY_POLICY, backoffDelayMs, isRetryableStatus, parseRetryAfterSeconds } from './retry-policy.ts';
export type { RetryPolicy } from './retry-policy.ts';
export { trainLocalUpdate } from './local-training.ts';
export type { LocalTrainingInput, LocalUpdate, TrainingExamples } from './local-training.ts';
