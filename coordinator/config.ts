/**
 * Coordinator settings with their defaults. Everything an operator may change
 * lives here, so `flock serve --help`, the README and tests agree on one list.
 */
import type { AggregationBackendPreference } from './aggregation/index.ts';
import type { RateLimit } from './http/limits.ts';

export interface CoordinatorConfig {
  /** Data directory: SQLite database and blob folder. */
  dataDir: string;
  /** Admin key to accept in addition to stored ones (FLOCK_ADMIN_KEY); never stored in clear. */
  adminKey?: string;
  /** The manifest signing key's own 0600 file (default `<dataDir>/manifest-signing-key.json`); every process sharing a store needs the same one. */
  signingKeyFile?: string;
  aggregationBackend: AggregationBackendPreference;
  limits: {
    /** Largest model upload (model.json + weights + holdout). */
    modelBytes: number;
    /** Largest update upload; each update is also checked against its model's size. */
    updateBytes: number;
    /** Largest JSON control message. */
    jsonBytes: number;
    telemetryBytes: number;
  };
  rateLimits: {
    /** Registrations per IP. */
    registerPerIp: RateLimit;
    /** Requests per device on device routes. */
    perDevice: RateLimit;
  };
  /** How often the deadline sweeper looks for expired rounds. */
  sweepIntervalMs: number;
  /** Variants that lose more accuracy than this on a holdout are refused. */
  maxAccuracyDrop: number;
  /** SSE heartbeat; each one also re-checks the device's manifest (the fallback when a change notice is lost). */
  sseHeartbeatMs: number;
  /** Telemetry one device may send per window, in request-body bytes and rows (events); over it: 429 with Retry-After. */
  telemetryQuota: { bytes: number; rows: number; windowMs: number };
  /** Telemetry older than this is deleted by a periodic sweep (every `telemetrySweepMs`). */
  telemetryRetentionMs: number;
  telemetrySweepMs: number;
  /** Uploads in flight per device, and update bytes reserved across the process; over either: 429. */
  uploadGate?: { perDevice: number; totalBytes: number };
  /** Page origins allowed to call the device routes cross-origin (CORS); empty: same origin only. Admin routes never. */
  corsOrigins: string[];
}

export const DEFAULT_CONFIG: Omit<CoordinatorConfig, 'dataDir'> = {
  aggregationBackend: 'auto',
  limits: {
    modelBytes: 256 * 1024 * 1024,
    updateBytes: 64 * 1024 * 1024,
    jsonBytes: 64 * 1024,
    telemetryBytes: 1024 * 1024,
  },
  rateLimits: {
    registerPerIp: { limit: 60, windowMs: 60_000 },
    perDevice: { limit: 600, windowMs: 60_000 },
  },
  sweepIntervalMs: 1_000,
  maxAccuracyDrop: 0.01,
  sseHeartbeatMs: 15_000,
  // ~10 full batches a minute; an honest client sends one small batch every few seconds.
  telemetryQuota: { bytes: 4 * 1024 * 1024, rows: 5_000, windowMs: 60_000 },
  telemetryRetentionMs: 30 * 86_400_000,
  telemetrySweepMs: 3_600_000,
  corsOrigins: [],
};

/** Deep-enough merge of partial settings over the defaults. */
export function resolveConfig(partial: Partial<CoordinatorConfig> & { dataDir: string }): CoordinatorConfig {
  return {
    ...DEFAULT_CONFIG,
    ...partial,
    limits: { ...DEFAULT_CONFIG.limits, ...partial.limits },
    rateLimits: { ...DEFAULT_CONFIG.rateLimits, ...partial.rateLimits },
    telemetryQuota: { ...DEFAULT_CONFIG.telemetryQuota, ...partial.telemetryQuota },
  };
}
