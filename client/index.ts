/**
 * Flock's browser SDK: on-device inference on the best tfjs backend with
 * cached, verified model versions, typed events, and on-device examples for
 * federated training.
 *
 * @example
 * import { connect } from 'flock/client';
 * const flock = await connect({ url: 'https://flock.example.com', app: 'digits', assetsUrl: '/flock/' });
 * const { label, confidence } = await flock.predict(new Float32Array(784));
 * await flock.record(pixels, 7);
 * flock.on('model-updated', ({ version }) => console.info('model', version));
 * // federated training: join a task; rounds run in a Worker when the page is hidden or idle
 * const trainer = await connect({ url, app: 'digits', train: { tasks: ['task_1'] } });
 * trainer.on('round-finished', ({ roundId, uploaded }) => console.info(roundId, uploaded));
 * console.log(await flock.status()); // { deviceId, backend, modelVersion, pendingUploads, ... }
 */
import * as tf from '@tensorflow/tfjs';

export { connect } from './connect.ts';
export type { ConnectOptions, Flock, FlockStatus, TrainOptions } from './connect.ts';
export { judgeEligibility, startTrainingWorker } from './training/index.ts';
export type {
  DeviceSignals,
  EligibilityPolicy,
  EligibilityVerdict,
  LocalPrivacySpent,
  TrainingJob,
  TrainingRunner,
} from './training/index.ts';
export type { FlockEventMap, FlockEventName, FlockListener } from './events.ts';
export { FlockError } from './flock-error.ts';
export type { FlockErrorCode } from './flock-error.ts';
export { setAssetBase } from './tfjs-backends.ts';
export { chooseVariant } from './model-loader.ts';
export type { BackendName } from './backends/select.ts';
export { FlockInputError } from './inference/index.ts';
export type {
  BinaryPrediction,
  FlockInputErrorCode,
  ImageDataLike,
  MulticlassPrediction,
  MultilabelPrediction,
  PredictInput,
  Prediction,
  RawInput,
  RecordTarget,
  RegressionPrediction,
} from './inference/index.ts';
/** The version metadata a model ships with (`flock-model.json`): preprocessing, output kind, frozen layers. */
export type { ModelSpec, OutputSpec, OutputKind } from '../shared/protocol/model-spec.ts';
export { createMemoryStore, openIndexedDbStore } from './storage/index.ts';
export type { ClientStore } from './storage/index.ts';
export { startFlockServiceWorker } from './service-worker/flock-service-worker.ts';
export type { FlockServiceWorkerOptions } from './service-worker/flock-service-worker.ts';
export { enableBackgroundTraining } from './training/background-sync-link.ts';
export type { BackgroundTrainingResult } from './training/background-sync-link.ts';

/**
 * The tfjs namespace the SDK runs on, for apps that build tensors to pass to `predict`.
 *
 * @example
 * const x = tf.zeros([28, 28, 1]);
 * await flock.predict(x);
 */
export { tf };
