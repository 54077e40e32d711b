/**
 * Shadow mode, SDK side, pure: whether an inference also runs on the shadow
 * version (a stable hash of device and inference ids against the sample
 * rate, so a retried inference makes the same choice), and the 'shadow'
 * telemetry a window of compared predictions becomes. The shadow's output is
 * never returned to the app; only agreement and latency leave the device.
 *
 * Wiring (for client/connect.ts): fetch `GET /v1/apps/:app/shadow` after the
 * manifest; when it answers 200 and the device is capable, load
 * `manifest` like any version (it is signed; cohort 'shadow'), and on each
 * prediction with `shouldShadow(deviceId, inferenceId, sampleRate)` run it
 * after answering, feed `window.add(...)`, and flush `window.take(at)` into the
 * telemetry outbox with the batch's `modelVersion` = production version.
 */
import type { TelemetryEvent } from '../shared/protocol/index.ts';

export type ShadowEvent = Extract<TelemetryEvent, { type: 'shadow' }>;

/** FNV-1a, 32 bits: synchronous and the same in every JS runtime (Web Crypto digests are async). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * @example
 * if (shouldShadow(deviceId, String(n), 0.1)) runShadow(); // about 1 in 10 inferences
 */
export function shouldShadow(deviceId: string, inferenceId: string, sampleRate: number): boolean {
  if (sampleRate <= 0) return false;
  if (sampleRate >= 1) return true;
  return fnv1a(`${deviceId}\0${inferenceId}`) / 2 ** 32 < sampleRate;
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
export function shadowEvent(shadowVersion: number, production: ComparedPrediction, shadow: ComparedPrediction, at: string): ShadowEvent {
  return { type: 'shadow', at, shadowVersion, count: 1, agreed: production.label === shadow.label ? 1 : 0, productionMeanMs: production.latencyMs, shadowMeanMs: shadow.latencyMs };
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
    const event: ShadowEvent = { type: 'shadow', at, shadowVersion: this.shadowVersion, count: this.count, agreed: this.agreed, productionMeanMs: this.productionMs / this.count, shadowMeanMs: this.shadowMs / this.count };
    this.count = this.agreed = this.productionMs = this.shadowMs = 0;
    return event;
  }
}
