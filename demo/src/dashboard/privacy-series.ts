/**
 * Epsilon spent per task over rounds: each closed round's result version
 * records the task's cumulative epsilon after that round (the accountant's
 * figure), so the series is read from the versions, not recomputed here.
 */
import type { ModelVersionView } from '../../../shared/protocol/index.ts';

/**
 * @example
 * lineChart([{ name: 'ε', color: '#f59e0b', points: epsilonSeries(rounds, versions) }], { title: 'Privacy spent' })
 */
export function epsilonSeries(
  rounds: readonly { roundNumber: number; resultVersion: number | null }[],
  versions: readonly Pick<ModelVersionView, 'version' | 'epsilon'>[],
): { x: number; y: number }[] {
  const epsilonOf = new Map(versions.map((v) => [v.version, v.epsilon]));
  return rounds
    .flatMap((r) => {
      const eps = r.resultVersion === null ? null : (epsilonOf.get(r.resultVersion) ?? null);
      return eps === null ? [] : [{ x: r.roundNumber, y: eps }];
    })
    .sort((a, b) => a.x - b.x);
}
