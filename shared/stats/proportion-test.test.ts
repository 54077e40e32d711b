import { describe, expect, it } from 'vitest';
import { twoProportionZTest } from './proportion-test.ts';

// z by hand: pooled p = 0.87, se = sqrt(0.87 * 0.13 * (2/500)) = 0.021270; z = 0.06 / se = 2.8209.
describe('twoProportionZTest', () => {
  it('matches the pooled z-test computed by hand / scipy.stats.norm', () => {
    const r = twoProportionZTest(450, 500, 420, 500);
    expect(r.z).toBeCloseTo(2.8209146888372265, 12);
    expect(r.pValue).toBeCloseTo(0.004788693590031572, 12);
    expect(twoProportionZTest(450, 500, 420, 500, 'greater').pValue).toBeCloseTo(0.002394346795015786, 12);
    const worse = twoProportionZTest(80, 100, 90, 100);
    expect(worse.z).toBeCloseTo(-1.9802950859533481, 12);
    expect(worse.pValue).toBeCloseTo(0.047670380656161464, 12);
    expect(twoProportionZTest(80, 100, 90, 100, 'less').pValue).toBeCloseTo(1 - 0.9761648096719193, 12);
  });
  it('gives p = 1 when both samples are all successes', () => {
    expect(twoProportionZTest(10, 10, 50, 50).pValue).toBe(1);
  });
  it('refuses impossible counts', () => {
    expect(() => twoProportionZTest(11, 10, 1, 2)).toThrow(RangeError);
    expect(() => twoProportionZTest(0, 0, 1, 2)).toThrow(RangeError);
  });
});
