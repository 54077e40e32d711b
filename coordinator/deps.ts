/**
 * What route groups and services share: one object built by `createCoordinator`
 * and passed down explicitly (no globals), so several coordinators can live in
 * one test process.
 */
import type { Clock } from './clock.ts';
import type { AuthOptions } from './auth/middleware.ts';
import type { SigningKey } from './auth/bootstrap.ts';
import type { CoordinatorConfig } from './config.ts';
import type { Logger } from './observability/logger.ts';
import type { RateLimitStore } from './http/rate-limit-store.ts';
import type { CoordinatorMetrics } from './observability/metrics.ts';
import type { RolloutService } from './rollouts/service.ts';
import type { BanditService } from './rollouts/bandit-service.ts';
import type { RoundService } from './rounds/service.ts';
import type { Store } from './store/index.ts';

export interface CoordinatorDeps {
  config: CoordinatorConfig;
  store: Store;
  log: Logger;
  metrics: CoordinatorMetrics;
  signing: SigningKey;
  auth: AuthOptions;
  rounds: RoundService;
  rollouts: RolloutService;
  bandits: BanditService;
  /** Rate-limit counters: in memory, or shared by every process on PostgreSQL. */
  rateLimits: RateLimitStore;
  /** The coordinator's "now" (createCoordinator's `clock`); routes read time from it, not from Date. */
  clock: Clock;
  version: string;
}
