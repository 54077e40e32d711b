import { describe, expect, it } from 'vitest';
import { TelemetryEventSchema } from '../shared/protocol/index.ts';
import { shadowEvent, ShadowWindow, shouldShadow } from './shadow.ts';

const at = '2026-01-01T00:00:00.000Z';

describe('shouldShadow', () => {
  it('samples about sampleRate of inferences and repeats its decision', () => {
    const picked = Array.from({ length: 20_000 }, (_, i) => shouldShadow('dev_1', String(i), 0.1));
    const share = picked.filter(Boolean).length / picked.length;
    expect(Math.abs(share - 0.1)).toBeLessThan(0.01);
    expect(Array.from({ length: 200 }, (_, i) => shouldShadow('dev_1', String(i), 0.1))).toEqual(picked.slice(0, 200));
    expect(shouldShadow('dev_1', 'x', 0)).toBe(false);
    expect(shouldShadow('dev_1', 'x', 1)).toBe(true);
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
    expect(e).toEqual({ type: 'shadow', at, shadowVersion: 3, count: 2, agreed: 1, productionMeanMs: 3, shadowMeanMs: 6 });
    expect(TelemetryEventSchema.safeParse(e).success).toBe(true);
    expect(w.take(at)).toBeNull();
  });
});
