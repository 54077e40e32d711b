/**
 * Upload bodies are read only after admission (admit-upload.ts `admitHeader`)
 * and never past the model's largest valid update. The gate bounds what is in
 * flight: a few uploads per device and a total of reserved bytes for the
 * process, so a device token (or a few) cannot make the server hold gigabytes
 * of bodies at once. Refusals are 429 with Retry-After; nothing is stored.
 */
import { errorBody } from '../../shared/protocol/index.ts';
import { ApiError } from './api-error.ts';

export interface UploadGateLimits {
  /** Uploads one device may have in flight (default 2). */
  perDevice: number;
  /** Bytes reserved (each upload reserves its model's largest update) across the process (default 512 MiB). */
  totalBytes: number;
}

export const DEFAULT_UPLOAD_GATE: UploadGateLimits = { perDevice: 2, totalBytes: 512 * 1024 * 1024 };

/** Thrown by the gate and the body reader; the route turns it into its answer. */
export class UploadRefused extends Error {
  constructor(
    readonly status: 413 | 429,
    readonly body: ReturnType<typeof errorBody>,
    readonly retryAfterSeconds?: number,
  ) {
    super(body.error.message);
  }
}

export class UploadGate {
  private readonly perDevice = new Map<string, number>();
  private reserved = 0;
  constructor(private readonly limits: UploadGateLimits = DEFAULT_UPLOAD_GATE) {}

  /**
   * Reserves a slot for `deviceId` and `maxBytes`; returns the release function.
   * @throws UploadRefused (429) when the device or the process is at its limit
   */
  enter(deviceId: string, maxBytes: number): () => void {
    const mine = this.perDevice.get(deviceId) ?? 0;
    if (mine >= this.limits.perDevice) {
      throw new UploadRefused(
        429,
        errorBody(
          'rate_limited',
          `this device already has ${mine} uploads in flight (at most ${this.limits.perDevice}); wait for them to finish`,
        ),
        1,
      );
    }
    if (this.reserved + maxBytes > this.limits.totalBytes && this.reserved > 0) {
      throw new UploadRefused(
        429,
        errorBody(
          'rate_limited',
          'the coordinator is receiving as many update bytes as it holds at once; retry shortly',
        ),
        2,
      );
    }
    this.perDevice.set(deviceId, mine + 1);
    this.reserved += maxBytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved -= maxBytes;
      const left = (this.perDevice.get(deviceId) ?? 1) - 1;
      if (left <= 0) this.perDevice.delete(deviceId);
      else this.perDevice.set(deviceId, left);
    };
  }

  /** Uploads and bytes in flight now (for tests and metrics). */
  inFlight(): { uploads: number; bytes: number } {
    let uploads = 0;
    for (const n of this.perDevice.values()) uploads += n;
    return { uploads, bytes: this.reserved };
  }
}

/**
 * Reads a request body, refusing it (413) as soon as it passes `maxBytes`: a
 * Content-Length over the cap before a byte is read, a longer stream when its
 * running count passes it (the rest is never pulled).
 *
 * With a Content-Length the body lands in one buffer of that size, each
 * chunk copied once as it arrives (no list of chunks joined afterwards); a
 * body that turns out longer than it declared is a 400. Without one, the
 * buffer starts at 64 KiB and doubles, never past `maxBytes`.
 */
export async function readBodyCapped(request: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = (n: number | string) =>
    new ApiError(
      'payload_too_large',
      `update of ${n} bytes is larger than any valid update for this model (${maxBytes} bytes)`,
      { maxBytes },
    );
  const header = request.headers.get('content-length');
  const declared = header === null ? Number.NaN : Number(header);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(declared);
  if (!request.body) return new Uint8Array(0);
  const known = Number.isSafeInteger(declared) && declared >= 0;
  let out = new Uint8Array(known ? declared : Math.min(maxBytes, 64 * 1024));
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total + value.byteLength > out.byteLength) {
      if (total + value.byteLength > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge(`more than ${maxBytes}`);
      }
      if (known) {
        await reader.cancel().catch(() => undefined);
        throw new ApiError('bad_request', `the body is longer than its Content-Length of ${declared} bytes`);
      }
      const grown = new Uint8Array(Math.min(maxBytes, Math.max(out.byteLength * 2, total + value.byteLength)));
      grown.set(out.subarray(0, total));
      out = grown;
    }
    out.set(value, total);
    total += value.byteLength;
  }
  return total === out.byteLength ? out : out.subarray(0, total);
}
