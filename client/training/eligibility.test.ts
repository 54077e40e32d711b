import { describe, expect, it } from 'vitest';
import { askPolicy, judgeEligibility, type DeviceSignals } from './eligibility.ts';

const base: DeviceSignals = { visibility: 'visible', idleMs: 0, charging: true, metered: false, online: true };

describe('judgeEligibility', () => {
  it('wants the page hidden or the user idle', () => {
    expect(judgeEligibility(base)).toEqual({ eligible: false, reason: 'page visible and in use' });
    expect(judgeEligibility({ ...base, visibility: 'hidden' })).toEqual({ eligible: true });
    expect(judgeEligibility({ ...base, idleMs: 60_000 })).toEqual({ eligible: true });
    expect(judgeEligibility({ ...base, idleMs: 5_000 }, 5_000)).toEqual({ eligible: true });
  });

  it('refuses on battery, metered or offline, but not when those APIs are missing', () => {
    const hidden = { ...base, visibility: 'hidden' as const };
    expect(judgeEligibility({ ...hidden, charging: false })).toMatchObject({ eligible: false, reason: 'on battery' });
    expect(judgeEligibility({ ...hidden, metered: true })).toMatchObject({
      eligible: false,
      reason: 'metered network',
    });
    expect(judgeEligibility({ ...hidden, online: false })).toMatchObject({ eligible: false, reason: 'offline' });
    expect(
      judgeEligibility({ visibility: 'hidden', idleMs: 0, charging: undefined, metered: undefined, online: undefined }),
    ).toEqual({ eligible: true });
  });

  it('normalizes boolean and async policies', async () => {
    expect(await askPolicy(() => true)).toEqual({ eligible: true });
    expect(await askPolicy(async () => false)).toMatchObject({ eligible: false });
    expect(await askPolicy(() => ({ eligible: false, reason: 'app says later' }))).toEqual({
      eligible: false,
      reason: 'app says later',
    });
  });
});
