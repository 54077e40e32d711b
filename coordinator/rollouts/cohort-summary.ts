/**
 * Folds raw telemetry rows of one model version into what canary analysis
 * compares: exposure (the devices the caller counts as exposed, see
 * rollout-telemetry.ts; else every device with a row),
 * labelled outcomes, predictions and prediction errors, latency samples, the
 * confidence histogram and per-feature histograms. Pure: the service reads the
 * rows, this turns them into numbers.
 *
 * Devices are anonymous and may lie (DESIGN.md, trust model), so counts are
 * never taken as sent: each device's contribution per metric is capped
 * (`maxUnitsPerDevice` outcomes, predictions, histogram counts; a bounded
 * number of latency samples, a uniform reservoir over all the device sent in
 * the stage, not its first batch, which on a freshly installed canary holds
 * the warm-up: shader compilation, first-call allocations), and per metric the devices with the most
 * extreme rate, median latency or mean confidence are trimmed on both sides
 * (`trimFraction`), so a few
 * devices can neither fake a regression nor hide one. `devices` counts the
 * distinct devices behind each metric, so analysis can refuse a verdict that
 * rests on too few of them.
 */
import { mergeHistograms, type BinnedCounts } from '../../shared/stats/index.ts';
import type { JsonObject, TelemetryEvent } from '../store/index.ts';
import type { MetricName } from './metric-rules.ts';

export interface CohortSummary {
  /** Distinct devices exposed to this version (served it and reporting on it in the stage): the sample-ratio check's count. */
  exposedDevices: number;
  correct: number;
  incorrect: number;
  predictions: number;
  predictionErrors: number;
  latencySamplesMs: number[];
  /** Absolute errors of regression predictions against recorded targets (per-device reservoirs, trimmed). */
  absoluteErrors: number[];
  confidence: BinnedCounts | null;
  /** Null-prototype: feature names are device-sent strings (`__proto__`, `constructor` are valid names). */
  features: Record<string, BinnedCounts>;
  /** Distinct devices that contributed to each metric; absent on hand-built summaries (no device minimum is then checked). */
  devices?: Partial<Record<MetricName, number>>;
}

/** Latency samples kept per cohort; beyond this every k-th is kept (power is already ample). */
export const MAX_LATENCY_SAMPLES = 20_000;
/** Outcomes / predictions / histogram counts one device may contribute per metric and stage. */
export const DEFAULT_MAX_UNITS_PER_DEVICE = 200;
/** Latency samples one device may contribute per stage. */
export const DEFAULT_MAX_LATENCY_SAMPLES_PER_DEVICE = 64;
/** Share of devices trimmed from each end of the per-device rate distribution (accuracy, errorRate). */
export const DEFAULT_TRIM_FRACTION = 0.1;

export interface SummaryOptions {
  maxUnitsPerDevice?: number;
  maxLatencySamplesPerDevice?: number;
  trimFraction?: number;
  /** Per-metric weight caps (see `deviceWeightCaps`), applied on top of `maxUnitsPerDevice`. */
  weightCaps?: { accuracy?: number; errorRate?: number };
}

/**
 * The median device's trials per rate metric over `events` (both cohorts
 * together): no device then weighs more than an ordinary one, whatever totals
 * it sends. Per-device rates are not clamped to shared quantiles, since at a
 * 5% stage the whole canary lies beyond any such quantile.
 */
export function deviceWeightCaps(events: readonly TelemetryEvent[]): { accuracy: number; errorRate: number } {
  const t = new Map<string, { c: number; i: number; p: number; e: number }>();
  for (const e of events) {
    if (e.kind !== 'feedback' && e.kind !== 'predictions' && e.kind !== 'error') continue;
    let d = t.get(e.deviceId);
    if (!d) t.set(e.deviceId, (d = { c: 0, i: 0, p: 0, e: 0 }));
    const p = e.payload;
    if (e.kind === 'feedback') {
      d.c += num(p.correct);
      d.i += num(p.incorrect);
    } else if (e.kind === 'predictions') {
      if (p.counts && typeof p.counts === 'object' && !Array.isArray(p.counts))
        for (const c of Object.values(p.counts)) d.p += num(c);
    } else if (p.where === 'predict') d.e += Math.max(1, num(p.count));
  }
  const all = [...t.values()];
  const medianOf = (v: number[]) =>
    v.length ? v.sort((a, b) => a - b)[Math.floor(v.length / 2)] : Number.POSITIVE_INFINITY;
  return {
    accuracy: medianOf(all.map((d) => d.c + d.i).filter((n) => n > 0)),
    errorRate: medianOf(all.map((d) => d.p + d.e).filter((n) => n > 0)),
  };
}

/** A record safe to index by device-sent names. */
export const nameRecord = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;

export const emptySummary = (): CohortSummary => ({
  exposedDevices: 0,
  correct: 0,
  incorrect: 0,
  predictions: 0,
  predictionErrors: 0,
  latencySamplesMs: [],
  absoluteErrors: [],
  confidence: null,
  features: nameRecord(),
});

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

function histogramOf(v: unknown): BinnedCounts | null {
  if (!v || typeof v !== 'object') return null;
  const h = v as { min?: unknown; max?: unknown; counts?: unknown };
  if (
    typeof h.min !== 'number' ||
    typeof h.max !== 'number' ||
    !(h.max > h.min) ||
    !Array.isArray(h.counts) ||
    h.counts.length === 0
  )
    return null;
  return { min: h.min, max: h.max, counts: h.counts.map(num) };
}

/** Scales a histogram down so its total is at most `cap`. */
function capHistogram(h: BinnedCounts, cap: number): BinnedCounts {
  const total = h.counts.reduce((a, b) => a + b, 0);
  return total > cap ? { ...h, counts: h.counts.map((c) => (c * cap) / total) } : h;
}

interface DeviceTally {
  correct: number;
  incorrect: number;
  predictions: number;
  predictionErrors: number;
  latency: number[];
  /** Latency samples the device sent, and the reservoir's random state (seeded by the device id, so a summary is reproducible). */
  latencySeen: number;
  latencyRng: number;
  /** The same reservoir, over absolute errors. */
  absErrors: number[];
  absSeen: number;
  absRng: number;
  confidence: BinnedCounts[];
  features: Map<string, BinnedCounts[]>;
}

/** FNV-1a of the device id: the seed of its latency reservoir. */
function seedOf(deviceId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) h = Math.imul(h ^ deviceId.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const newTally = (deviceId: string): DeviceTally => ({
  correct: 0,
  incorrect: 0,
  predictions: 0,
  predictionErrors: 0,
  latency: [],
  latencySeen: 0,
  latencyRng: seedOf(deviceId),
  absErrors: [],
  absSeen: 0,
  absRng: seedOf(`abs:${deviceId}`),
  confidence: [],
  features: new Map(),
});

/** Algorithm R over a device's latency samples: each of the n seen is kept with probability cap / n. */
function keepLatency(t: DeviceTally, ms: number, cap: number): void {
  t.latencySeen++;
  if (t.latency.length < cap) {
    t.latency.push(ms);
    return;
  }
  t.latencyRng = (Math.imul(t.latencyRng, 1664525) + 1013904223) >>> 0;
  const j = Math.floor((t.latencyRng / 2 ** 32) * t.latencySeen);
  if (j < cap) t.latency[j] = ms;
}

/** Algorithm R over a device's absolute errors (as for latency). */
function keepAbsoluteError(t: DeviceTally, v: number, cap: number): void {
  t.absSeen++;
  if (t.absErrors.length < cap) {
    t.absErrors.push(v);
    return;
  }
  t.absRng = (Math.imul(t.absRng, 1664525) + 1013904223) >>> 0;
  const j = Math.floor((t.absRng / 2 ** 32) * t.absSeen);
  if (j < cap) t.absErrors[j] = v;
}

/**
 * Per-device (successes, trials), each device's trials capped at `cap` (its
 * rate kept), the `trim` share of devices with the highest and the lowest
 * rates dropped, the rest pooled.
 */
export function pooledRobustRate(
  perDevice: readonly { s: number; n: number }[],
  cap: number,
  trim: number,
): { s: number; n: number; devices: number } {
  const rated = perDevice.filter((d) => d.n > 0).map((d) => ({ rate: Math.min(1, d.s / d.n), n: Math.min(d.n, cap) }));
  rated.sort((a, b) => a.rate - b.rate);
  const k = Math.floor(rated.length * trim);
  const kept = rated.slice(k, rated.length - k);
  let s = 0;
  let n = 0;
  for (const d of kept) {
    s += d.rate * d.n;
    n += d.n;
  }
  return { s, n, devices: rated.length };
}

function median(v: readonly number[]): number {
  const sorted = [...v].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)];
}

function histogramMean(h: BinnedCounts): number {
  const width = (h.max - h.min) / h.counts.length;
  let n = 0;
  let sum = 0;
  h.counts.forEach((c, i) => {
    n += c;
    sum += c * (h.min + (i + 0.5) * width);
  });
  return n > 0 ? sum / n : 0;
}

/** Drops the `trim` share of entries with the lowest and with the highest key. */
function trimmed<T>(entries: { key: number; value: T }[], trim: number): { kept: T[]; devices: number } {
  const sorted = [...entries].sort((a, b) => a.key - b.key);
  const k = Math.floor(sorted.length * trim);
  return { kept: sorted.slice(k, sorted.length - k).map((e) => e.value), devices: entries.length };
}

/**
 * @example
 * summarizeCohort(await store.listTelemetry({ app, version: 2, since })).exposedDevices
 */
export function summarizeCohort(
  events: readonly TelemetryEvent[],
  exposedDeviceIds?: ReadonlySet<string>,
  options: SummaryOptions = {},
): CohortSummary {
  const cap = options.maxUnitsPerDevice ?? DEFAULT_MAX_UNITS_PER_DEVICE;
  const latencyCap = options.maxLatencySamplesPerDevice ?? DEFAULT_MAX_LATENCY_SAMPLES_PER_DEVICE;
  const trim = options.trimFraction ?? DEFAULT_TRIM_FRACTION;
  const s = emptySummary();
  const exposed = new Set<string>();
  const tallies = new Map<string, DeviceTally>();
  const tallyOf = (deviceId: string) => {
    let t = tallies.get(deviceId);
    if (!t) tallies.set(deviceId, (t = newTally(deviceId)));
    return t;
  };
  for (const e of events) {
    exposed.add(e.deviceId);
    const p: JsonObject = e.payload;
    switch (e.kind) {
      case 'feedback': {
        const t = tallyOf(e.deviceId);
        t.correct += num(p.correct);
        t.incorrect += num(p.incorrect);
        if (Array.isArray(p.absoluteErrors))
          for (const v of p.absoluteErrors)
            if (typeof v === 'number' && Number.isFinite(v) && v >= 0) keepAbsoluteError(t, v, latencyCap);
        break;
      }
      case 'predictions':
        if (p.counts && typeof p.counts === 'object' && !Array.isArray(p.counts)) {
          const t = tallyOf(e.deviceId);
          for (const c of Object.values(p.counts)) t.predictions += num(c);
        }
        break;
      case 'error':
        if (p.where === 'predict') tallyOf(e.deviceId).predictionErrors += Math.max(1, num(p.count));
        break;
      case 'latency':
        if (Array.isArray(p.samplesMs)) {
          const t = tallyOf(e.deviceId);
          for (const v of p.samplesMs)
            if (typeof v === 'number' && Number.isFinite(v) && v >= 0) keepLatency(t, v, latencyCap);
        }
        break;
      case 'confidence': {
        const h = histogramOf(p.histogram);
        if (h) tallyOf(e.deviceId).confidence.push(h);
        break;
      }
      case 'feature-summary':
        if (Array.isArray(p.features)) {
          const t = tallyOf(e.deviceId);
          for (const f of p.features) {
            if (!f || typeof f !== 'object' || Array.isArray(f) || typeof f.name !== 'string') continue;
            const h = histogramOf(f.histogram);
            if (h) t.features.set(f.name, [...(t.features.get(f.name) ?? []), h]);
          }
        }
        break;
    }
  }
  s.exposedDevices = exposedDeviceIds ? exposedDeviceIds.size : exposed.size;

  const all = [...tallies.values()];
  const accuracy = pooledRobustRate(
    all.map((t) => ({ s: t.correct, n: t.correct + t.incorrect })),
    Math.min(cap, options.weightCaps?.accuracy ?? cap),
    trim,
  );
  s.correct = accuracy.s;
  s.incorrect = Math.max(0, accuracy.n - accuracy.s);
  const errors = pooledRobustRate(
    all.map((t) => ({ s: t.predictionErrors, n: t.predictions + t.predictionErrors })),
    Math.min(cap, options.weightCaps?.errorRate ?? cap),
    trim,
  );
  s.predictionErrors = errors.s;
  s.predictions = Math.max(0, errors.n - errors.s);

  // Rank metrics: the devices with the most extreme median latency / mean confidence are trimmed too.
  const latencyKept = trimmed(
    all.filter((t) => t.latency.length).map((t) => ({ key: median(t.latency), value: t.latency })),
    trim,
  );
  for (const samples of latencyKept.kept) s.latencySamplesMs.push(...samples);
  const absKept = trimmed(
    all.filter((t) => t.absErrors.length).map((t) => ({ key: median(t.absErrors), value: t.absErrors })),
    trim,
  );
  for (const samples of absKept.kept) s.absoluteErrors.push(...samples);
  if (s.absoluteErrors.length > MAX_LATENCY_SAMPLES) {
    const step = s.absoluteErrors.length / MAX_LATENCY_SAMPLES;
    s.absoluteErrors = Array.from({ length: MAX_LATENCY_SAMPLES }, (_, i) => s.absoluteErrors[Math.floor(i * step)]);
  }
  const ownConfidence = all.map((t) => mergeHistograms(t.confidence)).filter((h): h is BinnedCounts => h !== null);
  const confidenceKept = trimmed(
    ownConfidence.map((h) => ({ key: histogramMean(h), value: capHistogram(h, cap) })),
    trim,
  );
  const confidence = confidenceKept.kept;
  const latencyDevices = latencyKept.devices;
  const confidenceDevices = confidenceKept.devices;
  const features = new Map<string, BinnedCounts[]>();
  const featureDevices = new Set<string>();
  for (const [deviceId, t] of tallies) {
    for (const [name, hs] of t.features) {
      const merged = mergeHistograms(hs);
      if (!merged) continue;
      featureDevices.add(deviceId);
      features.set(name, [...(features.get(name) ?? []), capHistogram(merged, cap)]);
    }
  }
  if (s.latencySamplesMs.length > MAX_LATENCY_SAMPLES) {
    const step = s.latencySamplesMs.length / MAX_LATENCY_SAMPLES;
    s.latencySamplesMs = Array.from(
      { length: MAX_LATENCY_SAMPLES },
      (_, i) => s.latencySamplesMs[Math.floor(i * step)],
    );
  }
  s.confidence = mergeHistograms(confidence);
  for (const [name, hs] of features) {
    const merged = mergeHistograms(hs);
    if (merged) s.features[name] = merged;
  }
  s.devices = {
    accuracy: accuracy.devices,
    errorRate: errors.devices,
    latency: latencyDevices,
    confidence: confidenceDevices,
    drift: featureDevices.size,
    absoluteError: absKept.devices,
  };
  return s;
}
