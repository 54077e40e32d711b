/**
 * Entry point of the training worker for ESM builds: a module Worker of this
 * file serves the contract that `client/training/training-api.ts` defines.
 *
 * @example
 * const flock = await connect({ ..., train: { tasks: ['task_1'],
 *   createWorker: () => new FlockTrainingWorker() } }); // import FlockTrainingWorker from 'flock-ml/worker?worker' (Vite)
 */
import { exposeTrainingWorker } from '../client/training/training-api.ts';

export { trainingTransferables, trainingWorkerApi } from '../client/training/training-api.ts';
export type { TrainingJob, TrainingWorkerApi } from '../client/training/training-api.ts';

exposeTrainingWorker();
