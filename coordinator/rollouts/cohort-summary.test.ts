import { describe, expect, it } from 'vitest';
import type { TelemetryEvent } from '../store/index.ts';
import { DEFAULT_MAX_LATENCY_SAMPLES_PER_DEVICE, summarizeCohort } from './cohort-summary.ts';

const latencyRow = (id: number, deviceId: string, samplesMs: number[]): TelemetryEvent => ({
  id,
  deviceId,
  app: 'digits',
  version: 2,
  kind: 'latency',
  at: '2026-12-03T12:00:00.000Z',
  payload: { type: 'latency', samplesMs },
});

describe('latency samples per device', () => {
  it('keep a uniform reservoir over the whole stage, not the first batch (a fresh canary warm-up)', () => {
    // One device, 20 flushes of 64 samples: the first flush is a 500 ms warm-up, the rest run at 10 ms.
    const rows = Array.from({ length: 20 }, (_, k) => latencyRow(k + 1, 'dev_a', Array(64).fill(k === 0 ? 500 : 10)));
    const s = summarizeCohort(rows, undefined, { trimFraction: 0 });
    expect(s.latencySamplesMs).toHaveLength(DEFAULT_MAX_LATENCY_SAMPLES_PER_DEVICE);
    const warmUp = s.latencySamplesMs.filter((v) => v === 500).length;
    // Expected 64 / 20 = 3.2 warm-up samples (hypergeometric sd ~1.7); the first-come cap kept all 64.
    expect(warmUp).toBeLessThan(12);
    expect(s.latencySamplesMs.filter((v) => v === 10).length).toBeGreaterThan(50);
    // Reproducible: the same rows give the same summary.
    expect(summarizeCohort(rows, undefined, { trimFraction: 0 }).latencySamplesMs).toEqual(s.latencySamplesMs);
  });

  it('cap what one device contributes however much it sends, and skip values that are not latencies', () => {
    const rows = [
      latencyRow(1, 'dev_liar', Array(256).fill(1e4)),
      latencyRow(2, 'dev_liar', Array(256).fill(1e4)),
      latencyRow(3, 'dev_b', [1, -1, Number.NaN, 2]),
    ];
    const s = summarizeCohort(rows, undefined, { trimFraction: 0 });
    expect(s.latencySamplesMs.filter((v) => v === 1e4)).toHaveLength(DEFAULT_MAX_LATENCY_SAMPLES_PER_DEVICE);
    expect(s.latencySamplesMs.filter((v) => v < 1e4).sort()).toEqual([1, 2]);
    expect(s.devices?.latency).toBe(2);
  });
});
