/**
 * Bandit preview: the allocation Thompson sampling would give some versions
 * from their labelled feedback, without serving anything. Serving devices by
 * bandit is bandit-service.ts, with its state stored (bandit-state.ts).
 */
import type { Store } from '../store/index.ts';
import { rewardsFromFeedback, thompsonShares, type ArmReward, type Rng } from './bandit.ts';
import { readTelemetry } from './rollout-telemetry.ts';
import { versionOf } from './rollout-transition.ts';

export interface BanditPreview {
  versions: number[];
  rewards: ArmReward[];
  shares: number[];
}

/**
 * @example
 * const p = await banditPreview(store, 'digits', [1, 2], undefined, seededRng(1)); // p.shares e.g. [0.02, 0.98]
 */
export async function banditPreview(
  store: Store,
  app: string,
  versions: number[],
  since: string | undefined,
  rng: Rng,
): Promise<BanditPreview> {
  for (const v of versions) await versionOf(store, app, v);
  const rows = (await Promise.all(versions.map((v) => readTelemetry(store, app, v, since, 'feedback')))).flat();
  const found = rewardsFromFeedback(rows);
  const rewards = versions.map(
    (version) => found.find((r) => r.version === version) ?? { version, successes: 0, failures: 0 },
  );
  return { versions, rewards, shares: thompsonShares(rewards, rng) };
}
