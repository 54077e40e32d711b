/**
 * A bandit's rewards, read from the store in full: every 'feedback' row of
 * each arm since the bandit started, page by page (the store serves at most
 * MAX_LIMIT rows a query), folded into a FeedbackTally so memory grows with
 * devices, not rows. Nothing is dropped: an arm with 43,080 outcomes counts
 * 43,080 (before the per-device cap), not the first page's worth.
 */
import { MAX_LIMIT } from '../store/context.ts';
import type { StoreOps } from '../store/index.ts';
import { FeedbackTally, type ArmReward } from './bandit.ts';

/** Rewards (capped per device) and raw outcomes of one arm. */
export type ArmRewardView = ArmReward & {
  /** Correct + incorrect as devices sent them, before the per-device cap. */
  outcomes: number;
  /** Distinct devices that sent feedback for this version. */
  devices: number;
};

/**
 * @example
 * const rewards = await readBanditRewards(store, 'digits', [3, 4], bandit.startedAt);
 * rewards[0] // { version: 3, successes: 38912, failures: 4168, outcomes: 43080, devices: 240 }
 */
export async function readBanditRewards(
  store: Pick<StoreOps, 'listTelemetry'>,
  app: string,
  versions: readonly number[],
  since: string,
): Promise<ArmRewardView[]> {
  const tally = new FeedbackTally();
  for (const version of versions) {
    let afterId: number | undefined;
    for (;;) {
      const page = await store.listTelemetry({ app, version, kind: 'feedback', since, afterId, limit: MAX_LIMIT });
      for (const r of page)
        tally.add({
          deviceId: r.deviceId,
          version: r.version,
          kind: r.kind,
          payload: r.payload as { correct?: unknown; incorrect?: unknown },
        });
      if (page.length < MAX_LIMIT) break;
      afterId = page[page.length - 1].id;
    }
  }
  const rewards = tally.rewards();
  const sent = tally.outcomes();
  return versions.map((version) => {
    const r = rewards.find((x) => x.version === version) ?? { version, successes: 0, failures: 0 };
    const o = sent.find((x) => x.version === version);
    return { ...r, outcomes: o?.outcomes ?? 0, devices: o?.devices ?? 0 };
  });
}
