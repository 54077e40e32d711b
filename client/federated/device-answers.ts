/**
 * Schemas of the device-route answers that have no shared protocol schema yet
 * (the shadow assignment, the app's active tasks): the transport validates
 * them like every other answer instead of casting the JSON.
 */
import { z } from 'zod';

/** `GET /v1/apps/:app/shadow`: the shadow version this device should run (its manifest is verified by the loader). */
export const ShadowAssignmentSchema = z.object({
  version: z.number().int().nonnegative(),
  sampleRate: z.number().min(0).max(1),
  rolloutId: z.string(),
  manifest: z.unknown(),
});
export type ShadowAssignment = z.infer<typeof ShadowAssignmentSchema>;

/** `GET /v1/apps/:app/tasks`: the app's active training tasks (only the ids matter to a device). */
export const ActiveTasksSchema = z.object({ tasks: z.array(z.object({ id: z.string() })) });

/** What an outbox entry sends: an absolute URL under the coordinator, headers and bytes (no credentials). */
export interface QueuedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

/** The answer to one queued request, read whole. */
export interface QueuedAnswer {
  status: number;
  headers: Headers;
  text: string;
}
