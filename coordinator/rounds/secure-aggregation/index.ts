/**
 * Secure-aggregation rounds (SecAgg+ with the distributed discrete Gaussian,
 * shared/secagg): the signed round configuration, the per-round phase state,
 * the registry that drives it, and publishing the unmasked mean. The device
 * routes are coordinator/routes/secure-aggregation-rounds.ts.
 */
export { SecureAggregationRounds, type SecAggRouteTarget } from './secure-aggregation-rounds.ts';
export { SecAggRound, type SecAggAnswer } from './secagg-round.ts';
export { roundDdg, parameterCount, type RoundDdg } from './round-ddg.ts';
export { roundConfig, signRoundConfig, PHASE_DEADLINE_FRACTIONS } from './round-config.ts';
