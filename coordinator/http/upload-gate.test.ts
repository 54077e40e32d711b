import { describe, expect, it } from 'vitest';
import { ApiError } from './api-error.ts';
import { readBodyCapped } from './upload-gate.ts';

/** A request whose body arrives in the given chunks, with an optional Content-Length. */
function streamed(chunks: Uint8Array[], contentLength?: number): Request {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
  const headers = new Headers();
  if (contentLength !== undefined) headers.set('content-length', String(contentLength));
  return new Request('http://flock.test/v1/rounds/r/updates', {
    method: 'PUT',
    body,
    headers,
    duplex: 'half',
  } as RequestInit);
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

describe('readBodyCapped', () => {
  it('reads a declared body of many chunks into one buffer of exactly that size', async () => {
    const parts = [bytes(70_000, 1), bytes(3, 2), bytes(65_536, 3)];
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    const out = await readBodyCapped(streamed(parts, total), 1 << 20);
    expect(out.byteLength).toBe(total);
    expect(out.buffer.byteLength).toBe(total);
    expect(out).toEqual(joined(parts));
  });

  it('grows a buffer for a body without Content-Length, up to the cap', async () => {
    const parts = [bytes(50_000, 4), bytes(50_000, 5), bytes(100_001, 6)];
    const out = await readBodyCapped(streamed(parts), 200_001);
    expect(out).toEqual(joined(parts));
  });

  it('refuses a body longer than its Content-Length (400) and one past the cap (413)', async () => {
    const longer = readBodyCapped(streamed([bytes(100, 7), bytes(100, 8)], 150), 1000);
    await expect(longer).rejects.toMatchObject({ code: 'bad_request', status: 400 });
    const past = readBodyCapped(streamed([bytes(600, 9), bytes(600, 10)]), 1000);
    await expect(past).rejects.toBeInstanceOf(ApiError);
    await expect(readBodyCapped(streamed([bytes(600, 9), bytes(600, 10)]), 1000)).rejects.toMatchObject({
      code: 'payload_too_large',
      status: 413,
    });
    await expect(readBodyCapped(streamed([bytes(10, 1)], 5000), 1000)).rejects.toMatchObject({ status: 413 });
  });

  it('returns what arrived when a stream ends short of its Content-Length (the decoder then refuses it)', async () => {
    const out = await readBodyCapped(streamed([bytes(40, 11)], 100), 1000);
    expect(out).toEqual(bytes(40, 11));
  });
});
