/**
 * What secagg.bench.ts bundles for its Chromium page (global `SecAggBench`):
 * the sampled-round driver over shared/secagg exactly as it ships, and the
 * quantiser and test data generator, so the page builds the same input Node does.
 */
export { runSampledRound } from './secagg-sampled-round.ts';
export { quantise } from '../../shared/secagg/quantise.ts';
export { testPrng } from '../../shared/secagg/in-memory-round.fixture.ts';
