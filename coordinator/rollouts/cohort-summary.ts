/**
 * Folds raw telemetry rows of one model version into what canary analysis
 * compares: exposure (devices whose 'model-loaded' event named the version),
 * labelled outcomes, predictions and prediction errors, latency samples, the
 * confidence histogram and per-feature histograms. Pure: the service reads the
 * rows, this turns them into numbers.
 */
import { mergeHistograms, type BinnedCounts } from '../../shared/stats/index.ts';
import type { JsonObject, TelemetryEvent } from '../store/index.ts';

export interface CohortSummary {
  /** Distinct devices that reported loading this version: the exposure count. */
  exposedDevices: number;
  correct: number;
  incorrect: number;
  predictions: number;
  predictionErrors: number;
  latencySamplesMs: number[];
  confidence: BinnedCounts | null;
  features: Record<string, BinnedCounts>;
}

/** Latency samples kept per cohort; beyond this every k-th is kept (power is already ample). */
export const MAX_LATENCY_SAMPLES = 20_000;

export const emptySummary = (): CohortSummary => ({
  exposedDevices: 0, correct: 0, incorrect: 0, predictions: 0, predictionErrors: 0, latencySamplesMs: [], confidence: null, features: {},
});

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function histogramOf(v: unknown): BinnedCounts | null {
  if (!v || typeof v !== 'object') return null;
  const h = v as { min?: unknown; max?: unknown; counts?: unknown };
  if (typeof h.min !== 'number' || typeof h.max !== 'number' || !(h.max > h.min) || !Array.isArray(h.counts) || h.counts.length === 0) return null;
  return { min: h.min, max: h.max, counts: h.counts.map(num) };
}

/**
 * @example
 * summarizeCohort(await store.listTelemetry({ app, version: 2, since })).exposedDevices
 */
export function summarizeCohort(events: readonly TelemetryEvent[], exposedDeviceIds?: ReadonlySet<string>): CohortSummary {
  const s = emptySummary();
  const exposed = new Set<string>();
  const confidence: BinnedCounts[] = [];
  const features = new Map<string, BinnedCounts[]>();
  for (const e of events) {
    const p: JsonObject = e.payload;
    switch (e.kind) {
      case 'model-loaded':
        exposed.add(e.deviceId);
        break;
      case 'feedback':
        s.correct += num(p.correct);
        s.incorrect += num(p.incorrect);
        break;
      case 'predictions':
        if (p.counts && typeof p.counts === 'object' && !Array.isArray(p.counts)) for (const c of Object.values(p.counts)) s.predictions += num(c);
        break;
      case 'error':
        if (p.where === 'predict') s.predictionErrors += Math.max(1, num(p.count));
        break;
      case 'latency':
        if (Array.isArray(p.samplesMs)) for (const v of p.samplesMs) if (typeof v === 'number' && Number.isFinite(v)) s.latencySamplesMs.push(v);
        break;
      case 'confidence': {
        const h = histogramOf(p.histogram);
        if (h) confidence.push(h);
        break;
      }
      case 'feature-summary':
        if (Array.isArray(p.features)) {
          for (const f of p.features) {
            if (!f || typeof f !== 'object' || Array.isArray(f) || typeof f.name !== 'string') continue;
            const h = histogramOf(f.histogram);
            if (h) features.set(f.name, [...(features.get(f.name) ?? []), h]);
          }
        }
        break;
    }
  }
  s.exposedDevices = exposedDeviceIds ? exposedDeviceIds.size : exposed.size;
  if (s.latencySamplesMs.length > MAX_LATENCY_SAMPLES) {
    const step = s.latencySamplesMs.length / MAX_LATENCY_SAMPLES;
    s.latencySamplesMs = Array.from({ length: MAX_LATENCY_SAMPLES }, (_, i) => s.latencySamplesMs[Math.floor(i * step)]);
  }
  s.confidence = mergeHistograms(confidence);
  for (const [name, hs] of features) s.features[name] = mergeHistograms(hs)!;
  return s;
}
