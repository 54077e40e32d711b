import { describe, expect, it } from 'vitest';
import { FlockError } from './flock-error.ts';
import { checkStorageQuota, quotaDecision, type StorageManagerLike } from './quota.ts';

const MB = 1024 * 1024;

describe('quotaDecision', () => {
  it('accepts a download that fits under the quota minus usage and headroom', () => {
    expect(quotaDecision({ usage: 10 * MB, quota: 100 * MB }, 50 * MB)).toEqual({ ok: true, freeBytes: 80 * MB });
  });

  it('refuses one that does not, naming the sizes in MB and the smaller variant', () => {
    const d = quotaDecision({ usage: 85 * MB, quota: 100 * MB }, 6.5 * MB, { smallerVariant: 'int8' });
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.freeBytes).toBe(5 * MB);
    expect(d.message).toContain('needs 6.5 MB, 5.0 MB free');
    expect(d.message).toContain('use the int8 variant');
  });

  it('counts the headroom: 95 of 100 MB free is not enough for 91 MB at 10%', () => {
    expect(quotaDecision({ usage: 5 * MB, quota: 100 * MB }, 91 * MB).ok).toBe(false);
    expect(quotaDecision({ usage: 5 * MB, quota: 100 * MB }, 91 * MB, { headroom: 0 }).ok).toBe(true);
  });

  it('never reports negative free space and does not refuse when the quota is unknown', () => {
    const over = quotaDecision({ usage: 200 * MB, quota: 100 * MB }, 1);
    expect(over).toMatchObject({ ok: false, freeBytes: 0 });
    expect(quotaDecision({}, 10 ** 12)).toEqual({ ok: true, freeBytes: null });
    expect(quotaDecision({ quota: 0 }, 1)).toEqual({ ok: true, freeBytes: null });
  });
});

describe('checkStorageQuota', () => {
  const fake = (usage: number, quota: number) => {
    const calls = { persist: 0, estimate: 0 };
    const storage: StorageManagerLike = {
      estimate: async () => (calls.estimate++, { usage, quota }),
      persist: async () => (calls.persist++, true),
    };
    return { storage, calls };
  };

  it("throws FlockError 'quota' when the model does not fit, and asks persist() once per page", async () => {
    const small = fake(99 * MB, 100 * MB);
    const error = await checkStorageQuota(10 * MB, { storage: small.storage, smallerVariant: 'int8' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FlockError);
    expect(error).toMatchObject({ code: 'quota' });
    expect((error as Error).message).toMatch(/needs 10\.0 MB, 0\.0 MB free/);
    const big = fake(0, 1000 * MB);
    await expect(checkStorageQuota(10 * MB, { storage: big.storage })).resolves.toMatchObject({ ok: true });
    expect(small.calls.persist + big.calls.persist).toBe(1);
    expect(big.calls.estimate).toBe(1);
  });
});
