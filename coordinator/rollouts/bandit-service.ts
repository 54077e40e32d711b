/**
 * Bandit mode, served: Thompson sampling over labelled-feedback rewards
 * allocates an app's traffic between versions (bandit.ts holds the maths).
 *
 * State lives in the store (a settings entry per app), so a restart or
 * another process serves the same allocation. Every arm has its own signed
 * manifest generation; a reallocation republishes all arms in newer
 * generations, so a device never sees a generation go backwards, and a device
 * whose arm did not change gets the same version again (nothing to download).
 * The reallocation guard (bandit.ts) bounds how many devices switch at once.
 */
import type { SigningKey } from '../auth/bootstrap.ts';
import { ApiError } from '../http/api-error.ts';
import type { Logger } from '../observability/logger.ts';
import { publishManifest } from '../registry/publish.ts';
import type { ModelVersion, Store } from '../store/index.ts';
import { newBandit, reallocate, versionOf, type BanditState, type Rng } from './bandit.ts';
import { readBanditRewards } from './bandit-rewards.ts';
import {
  BANDIT_INDEX_KEY as INDEX_KEY,
  BanditAppsSchema,
  banditKey as keyOf,
  cryptoRng,
  readBandit,
  type ServedBandit,
} from './bandit-state.ts';
import type { ManifestEvents } from './manifest-events.ts';
import { publishCohortManifest, liveRollout } from './rollout-manifests.ts';

export interface BanditServiceOptions {
  store: Store;
  signing: SigningKey;
  log: Logger;
  events: ManifestEvents;
  rng?: Rng;
  now?: () => Date;
}

export class BanditService {
  private readonly rng: Rng;
  private readonly now: () => Date;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly o: BanditServiceOptions) {
    this.rng = o.rng ?? cryptoRng;
    this.now = o.now ?? (() => new Date());
  }

  /** One change at a time per process; the store keeps the state. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async versions(app: string, versions: number[]): Promise<ModelVersion[]> {
    const out: ModelVersion[] = [];
    for (const v of versions) {
      const found = await this.o.store.getModelVersion(app, v);
      if (!found) throw new ApiError('not_found', `model ${app} has no version ${v}`);
      if (found.stage === 'archived')
        throw new ApiError('conflict', `version ${v} is archived; a bandit serves live versions only`);
      out.push(found);
    }
    return out;
  }

  private async publishArms(app: string, state: BanditState): Promise<number[]> {
    const versions = await this.versions(app, state.versions);
    const generations: number[] = [];
    for (let arm = 0; arm < versions.length; arm++) {
      generations.push(
        (await publishCohortManifest(this.o.store, this.o.signing, versions[arm], state.id, `arm-${arm}`)).generation,
      );
    }
    this.o.events.publish({ app, generation: Math.max(...generations), reason: 'bandit' });
    return generations;
  }

  private async save(bandit: ServedBandit): Promise<void> {
    await this.o.store.setSetting(keyOf(bandit.app), bandit);
    const apps = BanditAppsSchema.parse((await this.o.store.getSetting(INDEX_KEY)) ?? []);
    if (!apps.includes(bandit.app)) await this.o.store.setSetting(INDEX_KEY, [...apps, bandit.app]);
  }

  /**
   * Starts splitting the app's traffic evenly between `versions`.
   * @example await bandits.startBandit({ app: 'digits', versions: [3, 4] }, 'admin:key_1')
   */
  startBandit(
    input: { app: string; versions: number[]; reallocateSeconds?: number },
    actor: string,
  ): Promise<ServedBandit> {
    return this.serial(async () => {
      const { app } = input;
      if ((await readBandit(this.o.store, app))?.status === 'running')
        throw new ApiError('conflict', `app ${app} already runs a bandit; stop it first`);
      if (await liveRollout(this.o.store, app))
        throw new ApiError('conflict', `app ${app} has a live rollout; finish or abort it before starting a bandit`);
      let state: BanditState;
      try {
        state = newBandit(`bd_${app}_${Date.now().toString(36)}`, input.versions, this.now().toISOString());
      } catch (error) {
        throw new ApiError('validation_failed', error instanceof Error ? error.message : String(error));
      }
      const generations = await this.publishArms(app, state);
      const bandit: ServedBandit = {
        app,
        status: 'running',
        state,
        generations,
        startedAt: state.reallocatedAt,
        reallocateSeconds: input.reallocateSeconds ?? 300,
        rewards: [],
      };
      await this.save(bandit);
      await this.o.store.appendAudit({
        actor,
        action: 'bandit.start',
        target: app,
        details: { banditId: state.id, versions: state.versions, generations },
      });
      return bandit;
    });
  }

  /** Reallocates from the feedback so far (the timer calls this; operators may too). */
  reallocateNow(app: string, actor = 'system'): Promise<ServedBandit> {
    return this.serial(async () => {
      const bandit = await readBandit(this.o.store, app);
      if (!bandit || bandit.status !== 'running') throw new ApiError('not_found', `app ${app} runs no bandit`);
      const rewards = await readBanditRewards(this.o.store, app, bandit.state.versions, bandit.startedAt);
      const at = this.now().toISOString();
      const state = reallocate(bandit.state, rewards, this.rng, at);
      const next: ServedBandit = { ...bandit, rewards, state };
      if (state !== bandit.state) {
        next.generations = await this.publishArms(app, state);
        await this.o.store.appendAudit({
          actor,
          action: 'bandit.reallocate',
          target: app,
          details: { banditId: state.id, shares: state.shares, rewards },
        });
      }
      await this.save(next);
      return next;
    });
  }

  /** Stops the bandit; everyone returns to the app's production version in a newer generation. */
  stopBandit(app: string, actor: string): Promise<ServedBandit> {
    return this.serial(async () => {
      const bandit = await readBandit(this.o.store, app);
      if (!bandit || bandit.status !== 'running') throw new ApiError('not_found', `app ${app} runs no bandit`);
      // A stopped bandit keeps the rewards it ended with: later feedback is about production, not the experiment.
      const stopped: ServedBandit = {
        ...bandit,
        status: 'stopped',
        rewards: await readBanditRewards(this.o.store, app, bandit.state.versions, bandit.startedAt),
      };
      await this.save(stopped);
      const production = (await this.o.store.listModelVersions(app, { stage: 'production', limit: 1 }))[0];
      if (production) {
        const record = await publishManifest(this.o.store, this.o.signing, production);
        this.o.events.publish({ app, generation: record.generation, reason: 'bandit stopped' });
      }
      await this.o.store.appendAudit({
        actor,
        action: 'bandit.stop',
        target: app,
        details: { banditId: bandit.state.id, shares: bandit.state.shares },
      });
      return stopped;
    });
  }

  /**
   * What `GET /v1/admin/bandits/:app` shows: a running bandit's rewards read
   * now from every feedback row since it started (not the snapshot taken at
   * the last reallocation); a stopped one's as they were when it stopped.
   * @example const view = await bandits.view('digits'); // view.rewards[1].outcomes === every outcome sent for arm 1
   */
  async view(app: string): Promise<ServedBandit> {
    const bandit = await readBandit(this.o.store, app);
    if (!bandit)
      throw new ApiError(
        'not_found',
        `app ${app} has no bandit; start one with "flock bandit start --app ${app} --versions 3,4"`,
      );
    if (bandit.status !== 'running') return bandit;
    return { ...bandit, rewards: await readBanditRewards(this.o.store, app, bandit.state.versions, bandit.startedAt) };
  }

  /** Checks for due reallocations every `intervalMs`. */
  start(intervalMs = 5_000): void {
    if (this.timer) return;
    this.timer = setInterval(
      () => void this.tick().catch((err) => this.o.log.error({ err }, 'bandit tick failed')),
      intervalMs,
    );
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.chain;
  }

  /** Timer body: reallocates every running bandit whose interval has passed. */
  async tick(): Promise<void> {
    const apps = BanditAppsSchema.parse((await this.o.store.getSetting(INDEX_KEY)) ?? []);
    for (const app of apps) {
      const bandit = await readBandit(this.o.store, app);
      if (!bandit || bandit.status !== 'running') continue;
      if (this.now().getTime() - Date.parse(bandit.state.reallocatedAt) < bandit.reallocateSeconds * 1000) continue;
      await this.reallocateNow(app).catch((err) => this.o.log.error({ err, app }, 'bandit reallocation failed'));
    }
  }

  /** The version this device runs under the app's bandit (for tests and the dashboard). */
  static versionFor(bandit: ServedBandit, deviceId: string): number {
    return versionOf(bandit.state, deviceId);
  }
}
