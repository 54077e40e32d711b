/**
 * Federated training on the device: the round loop (check-in, train in a
 * worker, outbox, upload), the eligibility policy, and the training runners.
 * `connect({ train: { tasks } })` wires it in; these exports are for Node
 * clients, simulations and apps that schedule training themselves.
 *
 * @example
 * import { TrainingScheduler, inProcessTrainingRunner, judgeEligibility } from './client/training/index.ts';
 */
export { TrainingScheduler } from './round-loop.ts';
export type { LocalPrivacySpent, TrainingSchedulerOptions } from './round-loop.ts';
export { DEFAULT_IDLE_AFTER_MS, askPolicy, judgeEligibility, watchDeviceSignals } from './eligibility.ts';
export type { DeviceSignals, EligibilityPolicy, EligibilityVerdict } from './eligibility.ts';
export { enqueueUpdate, flushOutbox, updateOutboxId } from './outbox-flush.ts';
export type { FlushOptions, FlushOutcome } from './outbox-flush.ts';
export { inProcessTrainingRunner, startTrainingWorker } from './training-runner.ts';
export type { TrainingJob, TrainingRunner, TrainingWorkerOptions } from './training-runner.ts';
