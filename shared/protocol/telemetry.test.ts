import { describe, expect, it } from 'vitest';
import {
  LATENCY_MAX_SAMPLES,
  TELEMETRY_MAX_EVENTS,
  TelemetryBatchSchema,
  TelemetryEventSchema,
  type TelemetryEvent,
} from './telemetry.ts';

const at = '2025-03-01T10:00:00.000Z';
const events: TelemetryEvent[] = [
  {
    type: 'latency',
    at,
    backend: 'webgpu',
    count: 50,
    meanMs: 4.1,
    p50Ms: 3.9,
    p95Ms: 7,
    p99Ms: 9.5,
    maxMs: 12,
    samplesMs: [3.1, 4.2],
  },
  { type: 'confidence', at, histogram: { min: 0, max: 1, counts: [0, 1, 3, 10, 36] } },
  { type: 'predictions', at, counts: { '0': 12, '7': 3 } },
  { type: 'feedback', at, correct: 41, incorrect: 3 },
  {
    type: 'model-loaded',
    at,
    version: 4,
    generation: 9,
    encoding: 'int8',
    backend: 'wasm',
    fromCache: true,
    loadMs: 35,
  },
  { type: 'error', at, where: 'predict', code: 'webgpu_device_lost', count: 1 },
  { type: 'heartbeat', at, generation: 9, backend: 'wasm' },
  {
    type: 'feature-summary',
    at,
    count: 50,
    features: [{ name: 'px0', mean: 0.1, variance: 0.02, histogram: { min: 0, max: 1, counts: [40, 10] } }],
  },
];

describe('telemetry', () => {
  it('accepts a batch with one event of each type, unchanged', () => {
    const batch = { deviceId: 'd1', app: 'digits', modelVersion: 4, rolloutId: 'ro1', events };
    expect(TelemetryBatchSchema.parse(batch)).toEqual(batch);
  });

  it('bounds the batch: empty and oversized batches are refused', () => {
    const base = { deviceId: 'd1', app: 'digits', modelVersion: 4 };
    const feedback = events[3];
    expect(TelemetryBatchSchema.safeParse({ ...base, events: [] }).success).toBe(false);
    expect(
      TelemetryBatchSchema.safeParse({ ...base, events: Array(TELEMETRY_MAX_EVENTS).fill(feedback) }).success,
    ).toBe(true);
    expect(
      TelemetryBatchSchema.safeParse({ ...base, events: Array(TELEMETRY_MAX_EVENTS + 1).fill(feedback) }).success,
    ).toBe(false);
  });

  it('accepts a full reservoir of latency samples', () => {
    expect(
      TelemetryEventSchema.safeParse({ ...events[0], samplesMs: Array(LATENCY_MAX_SAMPLES).fill(2.5) }).success,
    ).toBe(true);
  });

  it('refuses malformed events of each kind', () => {
    const bad: unknown[] = [
      { type: 'clicks', at, count: 1 },
      { ...events[0], count: 0 },
      { ...events[0], samplesMs: Array(LATENCY_MAX_SAMPLES + 1).fill(1) },
      { ...events[0], samplesMs: [1, -0.5] },
      { ...events[0], samplesMs: [1, Number.POSITIVE_INFINITY] },
      { ...events[0], samplesMs: [1, 3_600_001] },
      { type: 'heartbeat', at, generation: 0, backend: 'wasm' },
      { type: 'heartbeat', at, backend: 'wasm' },
      { ...events[0], p99Ms: -1 },
      { type: 'confidence', at, histogram: { min: 1, max: 1, counts: [1] } },
      { type: 'confidence', at, histogram: { min: 0, max: 1, counts: [] } },
      { type: 'predictions', at, counts: { a: -1 } },
      { type: 'predictions', at, counts: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`l${i}`, 1])) },
      { type: 'feedback', at, correct: 1.5, incorrect: 0 },
      { ...events[4], encoding: 'topk' },
      { ...events[5], where: 'render' },
      { type: 'feature-summary', at, count: 5, features: [{ name: 'x', mean: 0, variance: -1 }] },
      { ...events[3], at: 'now' },
    ];
    for (const e of bad) expect(TelemetryEventSchema.safeParse(e).success, JSON.stringify(e).slice(0, 80)).toBe(false);
  });
});
