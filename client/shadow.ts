/**
 * Shadow mode, SDK side, pure: which inferences also run on the shadow
 * version, and the 'shadow' telemetry a window of compared predictions
 * becomes. The shadow's output is never returned to the app; only agreement
 * and latency leave the device.
 *
 * Sampling is stratified, not a coin per inference: a sampler adds the rate
 * to a phase that starts at a random offset in [0, 1) and runs the shadow
 * each time the phase wraps, so any n consecutive inferences hold
 * floor(n * rate) or ceil(n * rate) samples. Every device's share is the
 * configured rate to within 1/n, and a device with 1/rate inferences is
 * sampled at least once. (An FNV-1a hash of device id and inference number,
 * used before, gave per-device shares from 0 to about 0.5 over 400
 * inferences at rate 0.2, 2-6 of 200 devices never sampled; 16-25 at rate
 * 0.1: similar ids hash to similar values.) The offset is random per
 * sampler (per page load), so short sessions do not always fall in the same
 * unsampled stretch.
 *
 * Wiring (client/connect.ts): fetch `GET /v1/apps/:app/shadow` only when the
 * manifest's `rollout.shadow` says there is one; load its manifest (signed,
 * `purpose: 'shadow'`) in memory, and on each prediction with
 * `sampler.next(sampleRate)` run it after answering, feed `window.add(...)`,
 * and flush `window.take(at)` into the telemetry outbox with the batch's
 * `modelVersion` = production version.
 */
import type { TelemetryEvent } from '../shared/protocol/index.ts';

export type ShadowEvent = Extract<TelemetryEvent, { type: 'shadow' }>;

/** A uniform offset in [0, 1) from Web Crypto. */
function randomOffset(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] / 2 ** 32;
}

/**
 * Decides, inference by inference, whether the shadow runs too.
 * @example
 * const sampler = new ShadowSampler();
 * if (sampler.next(0.1)) runShadow(); // exactly 1 in 10 inferences, at a random phase
 */
export class ShadowSampler {
  private phase: number;

  /** @param offset where the phase starts, in [0, 1): random unless a test pins it. */
  constructor(offset: number = randomOffset()) {
    if (!(offset >= 0 && offset < 1))
      throw new RangeError(`a shadow sampler's offset must be in [0, 1), got ${offset}`);
    this.phase = offset;
  }

  /** Whether this inference runs the shadow at `sampleRate` (0: never, 1: always; it may change between calls). */
  next(sampleRate: number): boolean {
    if (!(sampleRate > 0)) return false;
    if (sampleRate >= 1) return true;
    this.phase += sampleRate;
    if (this.phase < 1) return false;
    this.phase -= 1;
    return true;
  }
}

/** One prediction as the comparison needs it. */
export interface ComparedPrediction {
  /** Top-1 label. */
  label: string;
  latencyMs: number;
}

/**
 * The event for a single comparison.
 * @example
 * shadowEvent(3, { label: '7', latencyMs: 4 }, { label: '7', latencyMs: 6 }, new Date().toISOString())
 * // { type: 'shadow', shadowVersion: 3, count: 1, agreed: 1, productionMeanMs: 4, shadowMeanMs: 6, at }
 */
export function shadowEvent(
  shadowVersion: number,
  production: ComparedPrediction,
  shadow: ComparedPrediction,
  at: string,
): ShadowEvent {
  return {
    type: 'shadow',
    at,
    shadowVersion,
    count: 1,
    agreed: production.label === shadow.label ? 1 : 0,
    productionMeanMs: production.latencyMs,
    shadowMeanMs: shadow.latencyMs,
  };
}

/**
 * Sums comparisons into one event per flush, so telemetry stays small.
 * @example
 * const w = new ShadowWindow(3); w.add(prod, shadow); outbox.push(w.take(new Date().toISOString()));
 */
export class ShadowWindow {
  private count = 0;
  private agreed = 0;
  private productionMs = 0;
  private shadowMs = 0;

  constructor(readonly shadowVersion: number) {}

  add(production: ComparedPrediction, shadow: ComparedPrediction): void {
    this.count += 1;
    if (production.label === shadow.label) this.agreed += 1;
    this.productionMs += production.latencyMs;
    this.shadowMs += shadow.latencyMs;
  }

  /** The window's event, or null when nothing was compared; resets the window. */
  take(at: string): ShadowEvent | null {
    if (this.count === 0) return null;
    const event: ShadowEvent = {
      type: 'shadow',
      at,
      shadowVersion: this.shadowVersion,
      count: this.count,
      agreed: this.agreed,
      productionMeanMs: this.productionMs / this.count,
      shadowMeanMs: this.shadowMs / this.count,
    };
    this.count = this.agreed = this.productionMs = this.shadowMs = 0;
    return event;
  }
}
