/**
 * Differential privacy for Flock: clip an update, noise an aggregate, account
 * for what a task has spent, and plan the noise a budget needs.
 *
 * @example
 * import { clipByGlobalNormInPlace, addGaussianNoise, RdpAccountant } from 'flock/shared/dp';
 * clipByGlobalNormInPlace(updateTensors, clipNorm);               // on the client
 * addGaussianNoise(sum, noiseMultiplier * clipNorm);              // on the coordinator
 * accountant.compose({ kind: 'poisson-sampled-gaussian', samplingRate, noiseMultiplier });
 * accountant.getEpsilon(1e-5);
 */
export { globalL2Norm, clipByGlobalNorm, clipByGlobalNormInPlace } from './clip.ts';
export { gaussianNoise, addGaussianNoise } from './noise.ts';
export { DEFAULT_RDP_ORDERS, RdpAccountant, computeEpsilon } from './accountant.ts';
export type { DpEvent } from './accountant.ts';
export { epsilonFromRdp, classicEpsilonFromRdp } from './conversion.ts';
export { rdpPoissonSubsampledGaussian } from './rdp.ts';
export { calibrateNoiseMultiplier } from './calibration.ts';
export { DpParameterError } from './parameter-error.ts';
export { discreteGaussianNoise, addDiscreteGaussianNoise } from './discrete-gaussian.ts';
export {
  ddgTau,
  rdpDistributedDiscreteGaussian,
  type DistributedDiscreteGaussian,
} from './rdp-distributed-discrete-gaussian.ts';
export { CryptoUniform } from './crypto-uniform.ts';
