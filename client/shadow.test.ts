import { describe, expect, it } from 'vitest';
import { TelemetryEventSchema } from '../shared/protocol/index.ts';
import { shadowEvent, ShadowSampler, ShadowWindow } from './shadow.ts';

const at = '2026-01-01T00:00:00.000Z';

/** Per-device shares of a simulated fleet, each device with its own sampler (random offset, as on a page load). */
function fleetShares(devices: number, inferences: number, rate: number): number[] {
  return Array.from({ length: devices }, () => {
    const sampler = new ShadowSampler();
    let sampled = 0;
    for (let i = 0; i < inferences; i++) if (sampler.next(rate)) sampled++;
    return sampled / inferences;
  });
}

describe('ShadowSampler', () => {
  it('gives every device of a 200-device fleet its share to within 1/400 over 400 inferences, and samples each at rate 0.1', () => {
    for (const rate of [0.2, 0.1, 0.05, 0.33]) {
      const shares = fleetShares(200, 400, rate);
      for (const share of shares) expect(Math.abs(share - rate)).toBeLessThanOrEqual(1 / 400 + 1e-12);
      if (rate >= 0.1) expect(shares.filter((s) => s === 0)).toHaveLength(0);
    }
  });

  it('holds the bound from any offset and across a rate change, and never samples at 0 (always at 1)', () => {
    for (const offset of [0, 0.5, 1 - 1e-9]) {
      const sampler = new ShadowSampler(offset);
      let first = 0;
      for (let i = 0; i < 100; i++) if (sampler.next(0.1)) first++;
      expect(Math.abs(first - 10)).toBeLessThanOrEqual(1);
      let second = 0;
      for (let i = 0; i < 100; i++) if (sampler.next(0.25)) second++;
      expect(Math.abs(second - 25)).toBeLessThanOrEqual(1);
      expect(Math.abs(first + second - 35)).toBeLessThanOrEqual(1);
    }
    const sampler = new ShadowSampler(0.3);
    expect(Array.from({ length: 50 }, () => sampler.next(0)).some(Boolean)).toBe(false);
    expect(Array.from({ length: 50 }, () => sampler.next(1)).every(Boolean)).toBe(true);
    expect(() => new ShadowSampler(1)).toThrow(RangeError);
  });
});

describe('shadow telemetry', () => {
  it('produces events the telemetry schema accepts', () => {
    const one = shadowEvent(3, { label: '7', latencyMs: 4 }, { label: '1', latencyMs: 6 }, at);
    expect(one.agreed).toBe(0);
    expect(TelemetryEventSchema.parse(one)).toEqual(one);
  });

  it('sums a window and resets it', () => {
    const w = new ShadowWindow(3);
    w.add({ label: 'a', latencyMs: 2 }, { label: 'a', latencyMs: 4 });
    w.add({ label: 'a', latencyMs: 4 }, { label: 'b', latencyMs: 8 });
    const e = w.take(at);
    expect(e).toEqual({
      type: 'shadow',
      at,
      shadowVersion: 3,
      count: 2,
      agreed: 1,
      productionMeanMs: 3,
      shadowMeanMs: 6,
    });
    expect(TelemetryEventSchema.safeParse(e).success).toBe(true);
    expect(w.take(at)).toBeNull();
  });
});
