/**
 * Device registration (`POST /v1/devices`): what a client says about itself
 * and the credentials it gets back.
 */
import { z } from 'zod';
import { AppNameSchema, BackendNameSchema, IdSchema, RuntimeSchema } from './fields.ts';

export const PlatformSchema = z.object({
  userAgent: z.string().max(512).optional(),
  runtime: RuntimeSchema,
});
export type Platform = z.infer<typeof PlatformSchema>;

/** What the device measured about itself; used for eligibility and fleet statistics. */
export const CapabilitiesSchema = z.object({
  webgpu: z.boolean().optional(),
  webgl: z.boolean().optional(),
  wasmSimd: z.boolean().optional(),
  wasmThreads: z.boolean().optional(),
  /** Backend the client chose for inference. */
  backend: BackendNameSchema.optional(),
});
export type Capabilities = z.infer<typeof CapabilitiesSchema>;

/**
 * `POST /v1/devices` body.
 *
 * @example
 * const body: RegisterRequest = { app: 'digits', platform: { runtime: 'browser' }, protocolVersion: PROTOCOL_VERSION };
 */
export const RegisterRequestSchema = z.object({
  app: AppNameSchema,
  platform: PlatformSchema.optional(),
  capabilities: CapabilitiesSchema.optional(),
  /** The client's PROTOCOL_VERSION, so the coordinator can refuse with 'protocol_unsupported'. */
  protocolVersion: z.int().min(1).optional(),
});
export type RegisterRequest = z.infer<typeof RegisterRequestSchema>;

/** `POST /v1/devices` answer; the token is shown once and sent as `Authorization: Bearer <token>`. */
export const RegisterResponseSchema = z.object({
  deviceId: IdSchema,
  token: z.string().min(16).max(512),
  app: AppNameSchema,
  protocolVersion: z.int().min(1),
});
export type RegisterResponse = z.infer<typeof RegisterResponseSchema>;
