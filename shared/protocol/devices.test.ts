import { describe, expect, it } from 'vitest';
import { RegisterRequestSchema, RegisterResponseSchema } from './devices.ts';
import { PROTOCOL_VERSION } from './fields.ts';

describe('device registration', () => {
  it('accepts a minimal and a full request', () => {
    expect(RegisterRequestSchema.safeParse({ app: 'digits' }).success).toBe(true);
    const full = {
      app: 'digits',
      platform: { userAgent: 'Mozilla/5.0', runtime: 'worker' },
      capabilities: { webgpu: true, webgl: false, wasmSimd: true, wasmThreads: false, backend: 'wasm' },
      protocolVersion: PROTOCOL_VERSION,
    };
    expect(RegisterRequestSchema.parse(full)).toEqual(full);
  });

  it('refuses bad app names, unknown runtimes and a platform without runtime', () => {
    for (const app of ['', 'Digits', 'my app', '-x', 'a'.repeat(64), '../etc']) {
      expect(RegisterRequestSchema.safeParse({ app }).success, app).toBe(false);
    }
    expect(RegisterRequestSchema.safeParse({ app: 'digits', platform: { runtime: 'deno' } }).success).toBe(false);
    expect(RegisterRequestSchema.safeParse({ app: 'digits', platform: {} }).success).toBe(false);
    expect(RegisterRequestSchema.safeParse({ app: 'digits', capabilities: { webgpu: 'yes' } }).success).toBe(false);
  });

  it('checks the response: header-safe device id, non-trivial token', () => {
    const ok = { deviceId: 'dev_01HZX', token: 't'.repeat(43), app: 'digits', protocolVersion: 1 };
    expect(RegisterResponseSchema.parse(ok)).toEqual(ok);
    expect(RegisterResponseSchema.safeParse({ ...ok, deviceId: 'dev 1' }).success).toBe(false);
    expect(RegisterResponseSchema.safeParse({ ...ok, token: 'short' }).success).toBe(false);
    expect(RegisterResponseSchema.safeParse({ ...ok, protocolVersion: 0 }).success).toBe(false);
  });
});
