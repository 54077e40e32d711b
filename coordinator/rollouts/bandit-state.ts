/**
 * Where a served bandit's state lives (a settings entry per app) and which
 * manifest generation a device gets under it. Read by the manifest route on
 * every request, so it is small and has no dependencies on the service.
 */
import { z } from 'zod';
import type { StoreOps } from '../store/index.ts';
import { armOf, type Rng } from './bandit.ts';

const ArmRewardSchema = z.object({
  version: z.int(),
  successes: z.number(),
  failures: z.number(),
  outcomes: z.number(),
  devices: z.number(),
});

/** A bandit as its settings entry holds it, checked when read back (the manifest route trusts it). */
const ServedBanditSchema = z.object({
  app: z.string(),
  status: z.enum(['running', 'stopped']),
  state: z.object({
    id: z.string(),
    versions: z.array(z.int()),
    shares: z.array(z.number()),
    reallocations: z.int(),
    reallocatedAt: z.string(),
  }),
  /** Manifest generation serving each arm (same order as state.versions). */
  generations: z.array(z.int()),
  startedAt: z.string(),
  reallocateSeconds: z.number(),
  /**
   * Rewards as of the last reallocation (or the stop). The admin view of a
   * running bandit reads them afresh instead (BanditService.view).
   */
  rewards: z.array(ArmRewardSchema),
});
export type ServedBandit = z.infer<typeof ServedBanditSchema>;

/** The apps that ever ran a bandit, as their settings entry holds them. */
export const BanditAppsSchema = z.array(z.string());

/** Settings key of an app's bandit. */
export const banditKey = (app: string) => `bandit:${app}`;
/** Settings key listing apps that ever ran a bandit. */
export const BANDIT_INDEX_KEY = 'bandit-apps';

/** Uniform [0,1) from WebCrypto: Thompson draws decide who sees which model. */
export const cryptoRng: Rng = () => crypto.getRandomValues(new Uint32Array(1))[0] / 2 ** 32;

export async function readBandit(store: StoreOps, app: string): Promise<ServedBandit | null> {
  const stored = await store.getSetting(banditKey(app));
  return stored === null ? null : ServedBanditSchema.parse(stored);
}

/** The manifest generation a device gets under a running bandit, or null. */
export async function banditGenerationFor(
  store: StoreOps,
  app: string,
  deviceId: string,
): Promise<{ generation: number; banditId: string; arm: number } | null> {
  const bandit = await readBandit(store, app);
  if (!bandit || bandit.status !== 'running') return null;
  const arm = armOf(bandit.state.id, deviceId, bandit.state.shares);
  return { generation: bandit.generations[arm], banditId: bandit.state.id, arm };
}
