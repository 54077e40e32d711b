/**
 * Shadow mode, coordinator side: a rollout may name a shadow version that
 * capable devices run on a sampled share of inferences next to production.
 * Its predictions are never shown; devices send 'shadow' telemetry (agreement
 * with production, both latencies) and this module turns it into a report.
 *
 * The rollout's cohort manifests say that it runs a shadow
 * (`rollout.shadow: true`); only then does a device ask
 * `GET /v1/apps/:app/shadow` for `{ version, sampleRate, manifest }`, the
 * manifest signed for that role (shadow-manifest.ts). The setting is the
 * rollout's own field (`rollout.shadow`, migration 0005), not a metric rule.
 */
import { ShadowConfigSchema, type ShadowConfig } from '../../shared/protocol/rollouts.ts';
import type { Rollout } from '../store/index.ts';

export type { ShadowConfig };

/**
 * The shadow setting of a rollout, if it has a valid one.
 * @example
 * shadowOf(rollout) // { version: 3, sampleRate: 0.1 } or null
 */
export function shadowOf(rollout: Pick<Rollout, 'shadow'>): ShadowConfig | null {
  const parsed = ShadowConfigSchema.safeParse(rollout.shadow);
  return parsed.success ? parsed.data : null;
}

/** A stored telemetry row, as far as the report needs it. */
export interface ShadowRow {
  deviceId: string;
  version: number | null;
  kind: string;
  payload: Record<string, unknown>;
}

export interface ShadowReport {
  shadowVersion: number;
  sampleRate: number;
  /** Inferences compared. */
  comparisons: number;
  devices: number;
  /** Share of comparisons with the same top-1 label; null before any. */
  agreementRate: number | null;
  /** 95% Wilson interval of the agreement rate. */
  agreementInterval: [number, number] | null;
  productionMeanMs: number | null;
  shadowMeanMs: number | null;
  /** shadow - production, mean per inference; positive means the shadow is slower. */
  latencyDeltaMs: number | null;
  /** Comparisons per production version (canary and control devices both run shadows). */
  byProductionVersion: Record<string, number>;
}

/** Wilson score interval: sensible at rates near 0 or 1 and small counts, unlike the normal approximation. */
export function wilsonInterval(successes: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1];
  const p = successes / n;
  const denom = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** Comparisons one device may contribute to a shadow report. */
export const MAX_SHADOW_COMPARISONS_PER_DEVICE = 1000;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * Aggregates 'shadow' rows about `config.version`; rows about other shadow
 * versions (an earlier rollout's) are ignored. Latencies are weighted by the
 * window's count so that a busy device weighs as much as its inferences,
 * up to MAX_SHADOW_COMPARISONS_PER_DEVICE (counts are device claims).
 * @example
 * const report = shadowReport(rows, { version: 3, sampleRate: 0.1 });
 * report.agreementRate // e.g. 0.97
 */
export function shadowReport(rows: readonly ShadowRow[], config: ShadowConfig): ShadowReport {
  let comparisons = 0;
  let agreed = 0;
  let productionMs = 0;
  let shadowMs = 0;
  const perDevice = new Map<
    string,
    { n: number; agreed: number; productionMs: number; shadowMs: number; byVersion: Map<string, number> }
  >();
  for (const row of rows) {
    if (row.kind !== 'shadow' || row.payload.shadowVersion !== config.version) continue;
    const n = num(row.payload.count);
    if (n <= 0) continue;
    let d = perDevice.get(row.deviceId);
    if (!d) perDevice.set(row.deviceId, (d = { n: 0, agreed: 0, productionMs: 0, shadowMs: 0, byVersion: new Map() }));
    d.n += n;
    d.agreed += Math.min(n, num(row.payload.agreed));
    d.productionMs += n * num(row.payload.productionMeanMs);
    d.shadowMs += n * num(row.payload.shadowMeanMs);
    const key = String(row.version ?? 'unknown');
    d.byVersion.set(key, (d.byVersion.get(key) ?? 0) + n);
  }
  // Counts are device claims: each device weighs at most MAX_SHADOW_COMPARISONS_PER_DEVICE comparisons (its rates kept).
  const byProductionVersion: Record<string, number> = {};
  for (const d of perDevice.values()) {
    const scale = d.n > MAX_SHADOW_COMPARISONS_PER_DEVICE ? MAX_SHADOW_COMPARISONS_PER_DEVICE / d.n : 1;
    comparisons += d.n * scale;
    agreed += d.agreed * scale;
    productionMs += d.productionMs * scale;
    shadowMs += d.shadowMs * scale;
    for (const [key, n] of d.byVersion) byProductionVersion[key] = (byProductionVersion[key] ?? 0) + n * scale;
  }
  const devices = perDevice;
  const some = comparisons > 0;
  return {
    shadowVersion: config.version,
    sampleRate: config.sampleRate,
    comparisons,
    devices: devices.size,
    agreementRate: some ? agreed / comparisons : null,
    agreementInterval: some ? wilsonInterval(agreed, comparisons) : null,
    productionMeanMs: some ? productionMs / comparisons : null,
    shadowMeanMs: some ? shadowMs / comparisons : null,
    latencyDeltaMs: some ? (shadowMs - productionMs) / comparisons : null,
    byProductionVersion,
  };
}
