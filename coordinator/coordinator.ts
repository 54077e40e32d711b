/**
 * `createCoordinator`: opens the store, makes first-start secrets, picks the
 * aggregation backend, starts the round sweeper and builds the app. The CLI's
 * `serve` and every test start a coordinator through this one function.
 */
import { selectAggregationBackend } from './aggregation/index.ts';
import { join } from 'node:path';
import { ensureAdminKey, ensureSigningKey } from './auth/bootstrap.ts';
import { SIGNING_KEY_FILE } from './auth/signing-key-file.ts';
import { hashSecret, parseSecret } from './auth/secrets.ts';
import { buildApp } from './app.ts';
import { resolveConfig, type CoordinatorConfig } from './config.ts';
import type { CoordinatorDeps } from './deps.ts';
import { memoryRateLimitStore, type RateLimitStore } from './http/rate-limit-store.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics } from './observability/metrics.ts';
import { inProcessManifestEvents, RolloutService, type ManifestEvents } from './rollouts/index.ts';
import { BanditService } from './rollouts/bandit-service.ts';
import type { RoundSignals } from './rounds/round-signals.ts';
import { type Clock, systemClock } from './clock.ts';
import { RoundService } from './rounds/service.ts';
import { openSqliteStore, type Store } from './store/index.ts';

export const FLOCK_VERSION = '0.1.0';

export interface Coordinator {
  app: ReturnType<typeof buildApp>;
  deps: CoordinatorDeps;
  /** The admin key created on this first start (print it once), else null. */
  initialAdminKey: string | null;
  close(): Promise<void>;
}

export interface CreateCoordinatorOptions extends Partial<CoordinatorConfig> {
  dataDir: string;
  log?: Logger;
  /** Use this store instead of opening SQLite in dataDir. */
  store?: Store;
  /**
   * Where "now" comes from for round deadlines and sweeps, rollout and bandit
   * timing, and the SQLite store opened here; the real time by default.
   * Rate-limit windows keep the real time.
   */
  clock?: Clock;
  /** Start the deadline sweeper (default true). */
  sweep?: boolean;
  /** Manifest change fan-out; in-process by default, LISTEN/NOTIFY across processes on PostgreSQL. */
  events?: ManifestEvents;
  /** Round flush requests between processes (PostgreSQL); without them this process closes rounds alone. */
  roundSignals?: RoundSignals;
  /** Rate-limit counters; in this process's memory by default. Not closed by the coordinator when given. */
  rateLimitStore?: RateLimitStore;
}

/**
 * @example
 * const flock = await createCoordinator({ dataDir: './.flock' });
 * const res = await flock.app.request('/healthz');
 * await flock.close();
 */
export async function createCoordinator(options: CreateCoordinatorOptions): Promise<Coordinator> {
  const config = resolveConfig(options);
  const log = options.log ?? createLogger();
  if (config.adminKey && parseSecret(config.adminKey)?.kind !== 'admin') {
    throw new Error(
      'FLOCK_ADMIN_KEY must look like flk_admin_<id>.<43 base64url chars>; generate one with "flock admin-key"',
    );
  }
  const backend = await selectAggregationBackend(config.aggregationBackend);
  log.info({ backend: backend.name, device: backend.device, reason: backend.reason }, 'aggregation backend selected');
  const clock = options.clock ?? systemClock;
  const now = () => clock.now();
  const store = options.store ?? (await openSqliteStore({ dataDir: config.dataDir, now: () => new Date(now()) }));
  try {
    const signing = await ensureSigningKey(store, config.signingKeyFile ?? join(config.dataDir, SIGNING_KEY_FILE));
    const initialAdminKey = config.adminKey ? null : await ensureAdminKey(store);
    const metrics = createMetrics();
    const rounds = new RoundService({
      store,
      log,
      metrics,
      signing,
      sweepIntervalMs: config.sweepIntervalMs,
      now,
      ...(options.roundSignals ? { signals: options.roundSignals } : {}),
    });
    const rollouts = new RolloutService({
      store,
      signing,
      log,
      events: options.events ?? inProcessManifestEvents(),
      telemetryRetentionMs: config.telemetryRetentionMs,
      telemetrySweepMs: config.telemetrySweepMs,
      now: () => new Date(now()),
    });
    const bandits = new BanditService({ store, signing, log, events: rollouts.events, now: () => new Date(now()) });
    const rateLimits = options.rateLimitStore ?? memoryRateLimitStore();
    const deps: CoordinatorDeps = {
      config,
      store,
      log,
      metrics,
      signing,
      auth: { store, envAdminKeyHash: config.adminKey ? hashSecret(config.adminKey) : null },
      rounds,
      rollouts,
      bandits,
      rateLimits,
      clock,
      version: FLOCK_VERSION,
    };
    const app = buildApp(deps);
    if (options.sweep !== false) {
      await rounds.start();
      rollouts.start();
      bandits.start();
    }
    return {
      app,
      deps,
      initialAdminKey,
      close: async () => {
        await rollouts.stop();
        await bandits.stop();
        await rounds.stop();
        if (!options.rateLimitStore) await rateLimits.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
