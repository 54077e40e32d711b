import { describe, expect, it } from 'vitest';
import { shadowOf, shadowReport, wilsonInterval, type ShadowRow } from './shadow.ts';

const row = (deviceId: string, version: number, payload: Record<string, unknown>): ShadowRow => ({
  deviceId,
  version,
  kind: 'shadow',
  payload,
});

describe('shadowReport', () => {
  it('weights agreement and latency by comparisons and ignores other shadow versions and kinds', () => {
    const report = shadowReport(
      [
        row('d1', 1, { shadowVersion: 3, count: 10, agreed: 9, productionMeanMs: 10, shadowMeanMs: 14 }),
        row('d2', 2, { shadowVersion: 3, count: 30, agreed: 30, productionMeanMs: 20, shadowMeanMs: 18 }),
        row('d3', 1, { shadowVersion: 4, count: 100, agreed: 0, productionMeanMs: 1, shadowMeanMs: 1 }),
        { deviceId: 'd4', version: 1, kind: 'latency', payload: { shadowVersion: 3, count: 50 } },
      ],
      { version: 3, sampleRate: 0.2 },
    );
    expect(report.comparisons).toBe(40);
    expect(report.devices).toBe(2);
    expect(report.agreementRate).toBeCloseTo(39 / 40, 10);
    expect(report.productionMeanMs).toBeCloseTo((10 * 10 + 30 * 20) / 40, 10);
    expect(report.latencyDeltaMs).toBeCloseTo((10 * 4 + 30 * -2) / 40, 10);
    expect(report.byProductionVersion).toEqual({ 1: 10, 2: 30 });
    const [lo, hi] = report.agreementInterval ?? [NaN, NaN];
    expect(lo).toBeLessThan(39 / 40);
    expect(hi).toBeGreaterThan(39 / 40);
  });

  it('has no rates before any comparison', () => {
    const report = shadowReport([], { version: 3, sampleRate: 0.1 });
    expect(report.agreementRate).toBeNull();
    expect(report.latencyDeltaMs).toBeNull();
  });
});

describe('wilsonInterval', () => {
  it('narrows with more samples and stays inside [0, 1]', () => {
    const [a, b] = wilsonInterval(10, 10);
    expect(b).toBeCloseTo(1, 12);
    expect(a).toBeGreaterThan(0.6);
    const wide = wilsonInterval(50, 100);
    const narrow = wilsonInterval(5000, 10000);
    expect(narrow[1] - narrow[0]).toBeLessThan((wide[1] - wide[0]) / 5);
  });
});

describe('shadowOf', () => {
  it('reads a valid shadow setting and rejects a malformed one', () => {
    expect(shadowOf({ shadow: { version: 2, sampleRate: 0.5 } })).toEqual({ version: 2, sampleRate: 0.5 });
    expect(shadowOf({ shadow: { version: 2, sampleRate: 2 } })).toBeNull();
    expect(shadowOf({ shadow: null })).toBeNull();
  });

  it('weighs each device at most MAX_SHADOW_COMPARISONS_PER_DEVICE comparisons', () => {
    const row = (deviceId: string, count: number, agreed: number): ShadowRow => ({
      deviceId,
      version: 1,
      kind: 'shadow',
      payload: { shadowVersion: 3, count, agreed, productionMeanMs: 5, shadowMeanMs: 5 },
    });
    const honest = Array.from({ length: 10 }, (_, i) => row(`d${i}`, 1000, 990));
    const report = shadowReport([...honest, row('liar', 1_000_000_000, 0)], { version: 3, sampleRate: 0.1 });
    expect(report.devices).toBe(11);
    expect(report.comparisons).toBe(11_000);
    expect(report.agreementRate).toBeCloseTo(9900 / 11_000, 6);
  });
});
