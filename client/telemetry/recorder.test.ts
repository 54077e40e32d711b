import { describe, expect, it } from 'vitest';
import { TelemetryBatchSchema } from '../../shared/protocol/index.ts';
import { createMemoryStore } from '../storage/index.ts';
import { enqueueTelemetry } from './enqueue.ts';
import { createTelemetryRecorder, featuresOf, HEARTBEAT_MS, LATENCY_RESERVOIR_SIZE, MAX_FEATURES } from './recorder.ts';

const target = { deviceId: 'dev_test1', app: 'digits', modelVersion: 3 };

describe('telemetry recorder', () => {
  it('returns null when nothing happened', () => {
    expect(createTelemetryRecorder().take(target)).toBeNull();
  });

  it('batches latencies past the buffer size without losing or reordering one; features match featuresOf', () => {
    let seed = 3;
    const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const t = createTelemetryRecorder({ random });
    const input = Float32Array.from({ length: 100 }, (_, i) => i / 100);
    for (let i = 0; i < 1000; i++)
      t.prediction({ label: i % 3, confidence: 0.5, latencyMs: 1 + i, cached: false }, 'wasm', input);
    const batch = t.take(target)!;
    const latency = batch.events.find((e) => e.type === 'latency') as {
      count: number;
      maxMs: number;
      samplesMs: number[];
    };
    expect(latency.count).toBe(1000);
    expect(latency.maxMs).toBeGreaterThan(990);
    expect(latency.samplesMs).toHaveLength(LATENCY_RESERVOIR_SIZE);
    // Algorithm R over 1,000 samples: most of the 64 kept come from after the first 64.
    expect(latency.samplesMs.filter((ms) => ms > 64).length).toBeGreaterThan(48);
    expect(batch.events.find((e) => e.type === 'predictions')).toMatchObject({
      counts: { '0': 334, '1': 333, '2': 333 },
    });
    const summary = batch.events.find((e) => e.type === 'feature-summary') as { features: Array<{ mean: number }> };
    featuresOf(input).forEach((v, k) => expect(summary.features[k].mean).toBeCloseTo(v, 9));
  });

  it('summarizes predictions, feedback, exposure and features into a valid batch, then starts over', () => {
    const t = createTelemetryRecorder({ now: () => new Date('2026-11-29T00:00:00Z') });
    t.modelLoaded({ version: 3, generation: 7, encoding: 'int8', backend: 'wasm', fromCache: true });
    const input = new Float32Array(784).fill(0.25);
    for (let i = 0; i < 50; i++)
      t.prediction({ label: i % 2, confidence: 0.95, latencyMs: 1 + (i % 5), cached: false }, 'wasm', input);
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
    const features = byType['feature-summary'] as {
      count: number;
      features: Array<{ mean: number; variance: number; histogram: { counts: number[] } }>;
    };
    expect(features.count).toBe(51);
    expect(features.features).toHaveLength(MAX_FEATURES);
    expect(features.features[0].mean).toBeCloseTo(0.25, 6);
    expect(features.features[0].variance).toBeCloseTo(0, 9);
    expect(features.features[0].histogram.counts[2]).toBe(51);
    expect(t.take(target)).toBeNull();
  });

  it('sends a bounded, uniform reservoir of raw latencies with each batch', () => {
    let seed = 1;
    const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const t = createTelemetryRecorder({ random });
    for (let i = 0; i < 10; i++) t.prediction({ label: 0, confidence: 0.9, latencyMs: i + 1, cached: false }, 'wasm');
    t.prediction({ label: 0, confidence: 0.9, latencyMs: 99, cached: true }, 'wasm');
    const small = t.take(target)!.events.find((e) => e.type === 'latency') as { samplesMs: number[] };
    expect(small.samplesMs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]); // every uncached latency, the cache hit left out

    // 10,000 latencies 1..10000 ms: the reservoir keeps 64, spread over the whole window (not its first 64).
    for (let i = 1; i <= 10_000; i++) t.prediction({ label: 0, confidence: 0.9, latencyMs: i, cached: false }, 'wasm');
    const batch = t.take(target)!;
    expect(TelemetryBatchSchema.safeParse(batch).success).toBe(true);
    const samples = (batch.events.find((e) => e.type === 'latency') as { samplesMs: number[] }).samplesMs;
    expect(samples).toHaveLength(LATENCY_RESERVOIR_SIZE);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(mean).toBeGreaterThan(3500); // uniform over 1..10000: mean 5000, sd of the mean ~360
    expect(mean).toBeLessThan(6500);
    expect(samples.filter((v) => v > 5000).length).toBeGreaterThan(16);
    // The reservoir starts over with the batch.
    t.prediction({ label: 0, confidence: 0.9, latencyMs: 3, cached: false }, 'wasm');
    expect((t.take(target)!.events.find((e) => e.type === 'latency') as { samplesMs: number[] }).samplesMs).toEqual([
      3,
    ]);
    // Off when asked.
    const off = createTelemetryRecorder({ latencySamples: 0 });
    off.prediction({ label: 0, confidence: 0.9, latencyMs: 3, cached: false }, 'wasm');
    expect(off.take(target)!.events.find((e) => e.type === 'latency')).not.toHaveProperty('samplesMs');
  });

  it('sends a heartbeat while a model is active and nothing else was sent for heartbeatMs', () => {
    let clock = Date.parse('2026-11-29T00:00:00Z');
    const t = createTelemetryRecorder({ now: () => new Date(clock) });
    expect(t.take(target)).toBeNull();
    clock += HEARTBEAT_MS;
    expect(t.take(target)).toBeNull(); // no model yet: nothing to report
    t.modelLoaded({ version: 3, generation: 7, encoding: 'int8', backend: 'wasm', fromCache: true });
    expect(t.take(target)!.events.map((e) => e.type)).toEqual(['model-loaded']);
    clock += HEARTBEAT_MS - 1;
    expect(t.take(target)).toBeNull();
    clock += 1;
    const beat = t.take(target)!;
    expect(TelemetryBatchSchema.safeParse(beat).success).toBe(true);
    expect(beat.events).toEqual([
      { type: 'heartbeat', at: new Date(clock).toISOString(), generation: 7, backend: 'wasm' },
    ]);
    // Other telemetry resets the quiet time: no heartbeat rides along with it, nor right after it.
    clock += HEARTBEAT_MS;
    t.feedback(1, 1);
    expect(t.take(target)!.events.map((e) => e.type)).toEqual(['feedback']);
    clock += HEARTBEAT_MS / 2;
    expect(t.take(target)).toBeNull();
    clock += HEARTBEAT_MS / 2;
    expect(t.take(target)!.events.map((e) => e.type)).toEqual(['heartbeat']);
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
    expect(JSON.parse(new TextDecoder().decode(entry.body)).events[0]).toMatchObject({
      type: 'feedback',
      correct: 0,
      incorrect: 1,
    });
    expect((await store.countOutbox()).telemetry).toBe(1);
    await expect(enqueueTelemetry(store, 'http://x', { ...target, events: [] })).rejects.toThrow();
  });
});
