/**
 * Client telemetry, bounded: what the coordinator's canary analysis and drift
 * checks read. Predictions feed a latency sketch, a confidence histogram and
 * per-label counts; `record()` feeds labelled feedback (was the model right?);
 * inputs feed per-feature summaries (mean, variance, histogram) for PSI; every
 * model activation is a 'model-loaded' event. Uncached latencies also feed a
 * uniform reservoir of at most `latencySamples` (64) raw values per batch,
 * the `samplesMs` the coordinator's rank test compares between cohorts. While
 * a model is active and a batch would be empty, a 'heartbeat' goes out once
 * `heartbeatMs` (5 min) have passed since the last batch: the coordinator
 * counts a device as exposed in a rollout stage only from what it reports in
 * that stage, and a long-lived idle page would otherwise report nothing.
 * `take()` turns what accumulated into at most a handful of events and starts
 * over, so memory and batch size do not grow with traffic. Pure: no I/O, no
 * timers (the caller calls `take()` on its own schedule).
 */
import { LATENCY_MAX_SAMPLES, type TelemetryBatch, type TelemetryEvent } from '../../shared/protocol/index.ts';
import { QuantileSketch } from '../../shared/stats/index.ts';

export const CONFIDENCE_BINS = 10;
export const FEATURE_BINS = 10;
/** Long inputs (images) are summarized as this many contiguous chunk means. */
export const MAX_FEATURES = 16;
/** Raw latency samples per batch (the coordinator keeps 64 per device and stage; the wire allows 256). */
export const LATENCY_RESERVOIR_SIZE = 64;
/** Quiet time after which an active model is reported by a heartbeat. */
export const HEARTBEAT_MS = 5 * 60_000;
/** Latencies buffered per call before they go into the sketch and reservoir together. */
const LATENCY_BATCH = 256;

interface Moments {
  n: number;
  mean: number;
  m2: number;
  bins: number[];
}

export interface ModelLoaded {
  version: number;
  generation: number;
  encoding: 'fp32' | 'fp16' | 'int8';
  backend: string;
  fromCache: boolean;
  loadMs?: number;
}

export interface TelemetryRecorderOptions {
  /** Value range of input features for the drift histograms (default [0, 1]). */
  featureRange?: [number, number];
  /** Raw latency samples per batch, at most LATENCY_MAX_SAMPLES (default LATENCY_RESERVOIR_SIZE; 0 sends none). */
  latencySamples?: number;
  /** Quiet time before an active model is reported by a heartbeat (default HEARTBEAT_MS). */
  heartbeatMs?: number;
  now?: () => Date;
  /** Uniform in [0, 1), for the reservoir (default Math.random: sampling, not secrecy). */
  random?: () => number;
}

/** Chunk means of an input vector: a fixed, small feature set whatever the input size. */
export function featuresOf(input: ArrayLike<number>): number[] {
  const n = input.length;
  if (n <= MAX_FEATURES) return Array.from(input);
  const out: number[] = [];
  for (let k = 0; k < MAX_FEATURES; k++) {
    const start = Math.floor((k * n) / MAX_FEATURES);
    const end = Math.floor(((k + 1) * n) / MAX_FEATURES);
    let sum = 0;
    for (let i = start; i < end; i++) sum += input[i];
    out.push(sum / (end - start));
  }
  return out;
}

const bin = (value: number, min: number, max: number, bins: number) =>
  Math.min(bins - 1, Math.max(0, Math.floor(((value - min) / (max - min)) * bins)));

/**
 * @example
 * const t = createTelemetryRecorder();
 * t.prediction({ label: 3, confidence: 0.9, latencyMs: 1.2, cached: false }, 'wasm', input);
 * const batch = t.take({ deviceId, app, modelVersion: 4 }); // null when nothing happened
 */
export function createTelemetryRecorder(options: TelemetryRecorderOptions = {}) {
  const [fMin, fMax] = options.featureRange ?? [0, 1];
  const now = options.now ?? (() => new Date());
  const random = options.random ?? Math.random;
  const reservoirSize = Math.max(
    0,
    Math.min(LATENCY_MAX_SAMPLES, Math.floor(options.latencySamples ?? LATENCY_RESERVOIR_SIZE)),
  );
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  let latency = new QuantileSketch();
  let reservoir: number[] = [];
  let active: { generation: number; backend: string } | null = null;
  let lastBatchAt = now().getTime();
  let backendSeen = 'unknown';
  let confidence = new Array<number>(CONFIDENCE_BINS).fill(0);
  let labels: Record<string, number> = {};
  let feedback = { correct: 0, incorrect: 0 };
  /** Regression feedback: |prediction - target|, the first LATENCY_MAX_SAMPLES of the batch. */
  let absoluteErrors: number[] = [];
  let features: Moments[] = [];
  let loaded: TelemetryEvent[] = [];
  let predictions = 0;

  const pendingLatency = new Float64Array(LATENCY_BATCH);
  let pendingCount = 0;
  let labelCounts = new Map<number, number>();
  const drainLatency = () => {
    for (let i = 0; i < pendingCount; i++) {
      const ms = pendingLatency[i];
      latency.add(ms);
      // Algorithm R: after n samples each one is kept with probability size / n.
      const n = latency.count;
      if (reservoir.length < reservoirSize) reservoir.push(ms);
      else if (reservoirSize > 0) {
        const j = Math.floor(random() * n);
        if (j < reservoirSize) reservoir[j] = ms;
      }
    }
    pendingCount = 0;
  };
  /** featuresOf without its arrays: chunk means straight into the running moments (on every prediction). */
  const addFeatures = (input: ArrayLike<number>) => {
    const n = input.length;
    const count = Math.min(n, MAX_FEATURES);
    if (features.length !== count)
      features = Array.from({ length: count }, () => ({
        n: 0,
        mean: 0,
        m2: 0,
        bins: new Array<number>(FEATURE_BINS).fill(0),
      }));
    for (let k = 0; k < count; k++) {
      let v: number;
      if (n <= MAX_FEATURES) v = input[k];
      else {
        const start = Math.floor((k * n) / MAX_FEATURES);
        const end = Math.floor(((k + 1) * n) / MAX_FEATURES);
        let sum = 0;
        for (let i = start; i < end; i++) sum += input[i];
        v = sum / (end - start);
      }
      if (!Number.isFinite(v)) continue;
      const f = features[k];
      f.n++;
      const d = v - f.mean;
      f.mean += d / f.n;
      f.m2 += d * (v - f.mean);
      f.bins[bin(v, fMin, fMax, FEATURE_BINS)]++;
    }
  };

  const reset = () => {
    latency = new QuantileSketch();
    pendingCount = 0;
    labelCounts = new Map();
    reservoir = [];
    confidence = new Array<number>(CONFIDENCE_BINS).fill(0);
    labels = {};
    feedback = { correct: 0, incorrect: 0 };
    absoluteErrors = [];
    features = [];
    loaded = [];
    predictions = 0;
  };

  return {
    /** One answered prediction (cache hits count for labels and confidence, not latency). */
    prediction(
      p: { label: number; confidence: number; latencyMs: number; cached: boolean },
      backend: string,
      input?: ArrayLike<number>,
    ): void {
      predictions++;
      backendSeen = backend;
      if (active) active.backend = backend;
      if (!p.cached && Number.isFinite(p.latencyMs)) {
        // Buffered and folded in order (same sketch, same reservoir draws) by take() or when the buffer fills.
        pendingLatency[pendingCount++] = Math.max(p.latencyMs, 1e-3);
        if (pendingCount === LATENCY_BATCH) drainLatency();
      }
      if (Number.isFinite(p.confidence)) confidence[bin(p.confidence, 0, 1, CONFIDENCE_BINS)]++;
      labelCounts.set(p.label, (labelCounts.get(p.label) ?? 0) + 1);
      if (input && input.length > 0) addFeatures(input);
    },
    /** A labelled outcome: the user said the right answer was `label`. */
    feedback(predictedLabel: number, label: number): void {
      if (predictedLabel === label) feedback.correct++;
      else feedback.incorrect++;
    },
    /** A labelled outcome of a regression model: how far the prediction was from the recorded target. */
    absoluteError(error: number): void {
      if (Number.isFinite(error) && error >= 0 && absoluteErrors.length < LATENCY_MAX_SAMPLES)
        absoluteErrors.push(error);
    },
    /** Another event to send with the next batch (e.g. a shadow comparison window); at most 20 kept. */
    extra(event: TelemetryEvent): void {
      loaded.push(event);
      if (loaded.length > 20) loaded.shift();
    },
    modelLoaded(event: ModelLoaded): void {
      active = { generation: event.generation, backend: event.backend };
      loaded.push({ type: 'model-loaded', at: now().toISOString(), ...event });
      if (loaded.length > 20) loaded.shift();
    },
    /** Events accumulated so far as one batch for `modelVersion`, or null; then starts over. */
    take(target: { deviceId: string; app: string; modelVersion: number; rolloutId?: string }): TelemetryBatch | null {
      const time = now();
      const at = time.toISOString();
      const events: TelemetryEvent[] = [...loaded];
      drainLatency();
      for (const [label, n] of labelCounts) labels[String(label)] = n;
      const summary = latency.summary();
      if (summary.count > 0 && summary.p50 !== null) {
        events.push({
          type: 'latency',
          at,
          backend: backendSeen,
          count: summary.count,
          meanMs: summary.mean ?? 0,
          p50Ms: summary.p50 ?? 0,
          p95Ms: summary.p95 ?? 0,
          p99Ms: summary.p99 ?? 0,
          maxMs: summary.max ?? 0,
          ...(reservoir.length > 0 ? { samplesMs: reservoir } : {}),
        });
      }
      if (predictions > 0) {
        events.push({ type: 'confidence', at, histogram: { min: 0, max: 1, counts: confidence } });
        events.push({ type: 'predictions', at, counts: labels });
      }
      if (feedback.correct + feedback.incorrect > 0 || absoluteErrors.length > 0)
        events.push({
          type: 'feedback',
          at,
          ...feedback,
          ...(absoluteErrors.length > 0 ? { absoluteErrors: absoluteErrors.slice() } : {}),
        });
      const fs = features.filter((f) => f.n > 0);
      if (fs.length > 0) {
        events.push({
          type: 'feature-summary',
          at,
          count: fs[0].n,
          features: features.map((f, k) => ({
            name: `f${k}`,
            mean: f.mean,
            variance: f.n > 1 ? f.m2 / (f.n - 1) : 0,
            histogram: { min: fMin, max: fMax, counts: f.bins },
          })),
        });
      }
      if (events.length === 0 && active && time.getTime() - lastBatchAt >= heartbeatMs) {
        events.push({ type: 'heartbeat', at, generation: active.generation, backend: active.backend });
      }
      reset();
      if (events.length === 0) return null;
      lastBatchAt = time.getTime();
      return {
        deviceId: target.deviceId,
        app: target.app,
        modelVersion: target.modelVersion,
        ...(target.rolloutId ? { rolloutId: target.rolloutId } : {}),
        events,
      };
    },
  };
}

export type TelemetryRecorder = ReturnType<typeof createTelemetryRecorder>;
