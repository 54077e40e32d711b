/**
 * Cohort assignment: SHA-256 of (rolloutId, deviceId) gives a bucket in
 * [0, 10000); a device is canary while its bucket is below the stage's
 * percentage x 100. Nothing is stored per device, so assignment is sticky
 * across reconnects, service-worker updates and coordinator restarts, grows
 * monotonically with the stage (a canary device stays canary), and differs
 * between rollouts because the rollout id is hashed in.
 */
import { createHash } from 'node:crypto';

export type Cohort = 'canary' | 'control';
export const BUCKETS = 10_000;

/**
 * @example
 * bucketOf('ro_1', 'dev_a') // e.g. 4182, the same on every call
 */
export function bucketOf(rolloutId: string, deviceId: string): number {
  // A separator byte keeps ("a", "bc") and ("ab", "c") apart.
  const digest = createHash('sha256').update(rolloutId).update('\0').update(deviceId).digest();
  // 48 bits modulo 10^4: the bias is below 10^-10.
  return digest.readUIntBE(0, 6) % BUCKETS;
}

/**
 * @example
 * cohortOf('ro_1', 'dev_a', 5) // 'canary' for about 5% of device ids
 */
export function cohortOf(rolloutId: string, deviceId: string, canaryPercent: number): Cohort {
  return bucketOf(rolloutId, deviceId) < Math.round(canaryPercent * 100) ? 'canary' : 'control';
}
