/**
 * Telemetry volume per device: a fixed window of bytes and rows (events) per
 * device, so one device cannot fill the disk (one wrote 112 MB in 9 s before
 * this existed). The request-rate limit counts requests; this counts what
 * they carry. Counters live in this process's memory: with several
 * coordinator processes each enforces its own share.
 */
export interface TelemetryQuotaLimits {
  bytes: number;
  rows: number;
  windowMs: number;
}

export type QuotaDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number; reason: string };

interface Window {
  startedAt: number;
  bytes: number;
  rows: number;
}

/** Devices tracked before expired windows are swept out of memory. */
const SWEEP_AT = 10_000;

export class TelemetryQuota {
  private readonly windows = new Map<string, Window>();

  constructor(
    readonly limits: TelemetryQuotaLimits,
    private readonly now: () => number = Date.now,
  ) {
    if (!(limits.bytes > 0 && limits.rows > 0 && limits.windowMs > 0))
      throw new RangeError(`telemetry quota needs positive bytes, rows and windowMs, got ${JSON.stringify(limits)}`);
  }

  /**
   * Charges a batch to the device if it fits in the current window; a batch
   * that does not fit is refused whole and charges nothing.
   * @example
   * const d = quota.consume('dev_1', 2048, 20); // { allowed: true }
   */
  consume(deviceId: string, bytes: number, rows: number): QuotaDecision {
    const now = this.now();
    if (this.windows.size >= SWEEP_AT)
      for (const [id, w] of this.windows) if (now - w.startedAt >= this.limits.windowMs) this.windows.delete(id);
    let w = this.windows.get(deviceId);
    if (!w || now - w.startedAt >= this.limits.windowMs)
      this.windows.set(deviceId, (w = { startedAt: now, bytes: 0, rows: 0 }));
    const over =
      w.bytes + bytes > this.limits.bytes
        ? `${this.limits.bytes} bytes`
        : w.rows + rows > this.limits.rows
          ? `${this.limits.rows} events`
          : null;
    if (over) {
      return {
        allowed: false,
        retryAfterSeconds: Math.max(1, Math.ceil((w.startedAt + this.limits.windowMs - now) / 1000)),
        reason: over,
      };
    }
    w.bytes += bytes;
    w.rows += rows;
    return { allowed: true };
  }
}
