import { describe, expect, it } from 'vitest';
import { TelemetryBatchSchema } from '../../shared/protocol/index.ts';
import { createMemoryStore } from '../storage/index.ts';
import { enqueueTelemetry } from './enqueue.ts';
import { createTelemetryRecorder, featuresOf, MAX_FEATURES } from './recorder.ts';

const target = { deviceId: 'dev_test1', app: 'digits', modelVersion: 3 };

describe('telemetry recorder', () => {
  it('returns null when nothing happened', () => {
    expect(createTelemetryRecorder().take(target)).toBeNull();
  });

  it('summarizes predictions, feedback, exposure and features into a valid batch, then starts over', () => {
    const t = createTelemetryRecorder({ now: () => new Date('2026-11-29T00:00:00Z') });
    t.modelLoaded({ version: 3, generation: 7, encoding: 'int8', backend: 'wasm', fromCache: true });
    const input = new Float32Array(784).fill(0.25);
    for (let i = 0; i < 50; i++) t.prediction({ label: i % 2, confidence: 0.95, latencyMs: 1 + (i % 5), cached: false }, 'wasm', input);
    t.prediction({ label: 1, confidence: 0.55, latencyMs: 0, cached: true }, 'wasm', input);
    t.feedback(1, 1);
    t.feedback(1, 7);
    t.feedback(2, 2);
    const batch = t.take(target)!;
    expect(TelemetryBatchSchema.safeParse(batch).success).toBe(true);
    const byType = Object.fromEntries(batch.events.map((e) => [e.type, e]));
    expect(byType['model-loaded']).toMatchObject({ version: 3, generation: 7, fromCache: true });
    expect(byType.latency).toMatchObject({ count: 50, backend: 'wasm' }); // the cache hit is not a latency sample
    const p50 = (byType.latency as { p50Ms: number }).p50Ms;
    expect(p50).toBeGreaterThan(2.9);
    expect(p50).toBeLessThan(3.1);
    expect((byType.confidence as { histogram: { counts: number[] } }).histogram.counts[9]).toBe(50);
    expect((byType.confidence as { histogram: { counts: number[] } }).histogram.counts[5]).toBe(1);
    expect(byType.predictions).toMatchObject({ counts: { '0': 25, '1': 26 } });
    expect(byType.feedback).toMatchObject({ correct: 2, incorrect: 1 });
    const features = (byType['feature-summary'] as { count: number; features: Array<{ mean: number; variance: number; histogram: { counts: number[] } }> });
    expect(features.count).toBe(51);
    expect(features.features).toHaveLength(MAX_FEATURES);
    expect(features.features[0].mean).toBeCloseTo(0.25, 6);
    expect(features.features[0].variance).toBeCloseTo(0, 9);
    expect(features.features[0].histogram.counts[2]).toBe(51);
    expect(t.take(target)).toBeNull();
  });

  it('summarizes long inputs as contiguous chunk means', () => {
    const input = Array.from({ length: 32 }, (_, i) => i);
    expect(featuresOf(input)).toEqual(Array.from({ length: 16 }, (_, k) => 2 * k + 0.5));
    expect(featuresOf([1, 2, 3])).toEqual([1, 2, 3]);
  });

  it('queues a batch as an outbox entry for POST /v1/telemetry, and refuses an invalid one', async () => {
    const store = createMemoryStore();
    const t = createTelemetryRecorder();
    t.feedback(1, 2);
    const entry = await enqueueTelemetry(store, 'http://127.0.0.1:8787/', t.take(target)!);
    expect(entry).toMatchObject({ kind: 'telemetry', method: 'POST', url: 'http://127.0.0.1:8787/v1/telemetry' });
    expect(JSON.parse(new TextDecoder().decode(entry.body)).events[0]).toMatchObject({ type: 'feedback', correct: 0, incorrect: 1 });
    expect((await store.countOutbox()).telemetry).toBe(1);
    await expect(enqueueTelemetry(store, 'http://x', { ...target, events: [] })).rejects.toThrow();
  });
});
