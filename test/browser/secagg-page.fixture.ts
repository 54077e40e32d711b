/**
 * What secagg-chromium.test.ts bundles for the page (global `SecAgg`): the
 * secure-aggregation layer exactly as shared/secagg ships it, plus the
 * in-memory round driver its Node tests use.
 */
export { maskStream, pairContext, selfMaskContext, quantise } from '../../shared/secagg/index.ts';
export { agree, exportPublicKey, generateX25519, importPublicKey } from '../../shared/secagg/x25519.ts';
export { safeThreshold } from '../../shared/secagg/parameters.ts';
export { deviceIdAt, runInMemoryRound, testPrng } from '../../shared/secagg/in-memory-round.fixture.ts';
