/**
 * The coordinator package entry: start a coordinator in-process, or reach
 * one over HTTP with typed calls (`hc<AppType>`).
 */
export { createCoordinator, FLOCK_VERSION, type Coordinator, type CreateCoordinatorOptions } from './coordinator.ts';
export { manualClock, systemClock, type Clock, type ManualClock } from './clock.ts';
export { DEFAULT_CONFIG, type CoordinatorConfig } from './config.ts';
export type { AppType } from './app.ts';
export {
  adminAnswer,
  adminBytes,
  adminClient,
  AdminApiError,
  type AdminApi,
  type AdminClientOptions,
  type AdminErrorCode,
  type AdminFetch,
  type AdminResponse,
  type SuccessBody,
} from './admin-client.ts';
export {
  openPostgresBackend,
  openSqliteBackend,
  parseBlobLocation,
  type BlobLocation,
  type CoordinatorBackend,
  type PostgresBackendOptions,
  type SqliteBackendOptions,
} from './backends.ts';
