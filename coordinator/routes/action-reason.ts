/**
 * The optional body of an operator action (pause, resume, promote, abort):
 * `{ reason?: string }`, kept in the audit entry so the log says why, not
 * only who. No body at all is the same as `{}` (the CLI sends none).
 */
import { z } from '@hono/zod-openapi';

/** Long enough for a sentence or a ticket link, short enough for a log line. */
export const MAX_ACTION_REASON_CHARS = 500;

export const ActionReasonSchema = z.strictObject({
  reason: z
    .string()
    .trim()
    .min(1, 'reason is empty; leave it out or say why')
    .max(MAX_ACTION_REASON_CHARS, `reason is longer than ${MAX_ACTION_REASON_CHARS} characters`)
    .optional(),
});

/** The route's request part: an optional JSON body. */
export const actionReasonBody = {
  content: { 'application/json': { schema: ActionReasonSchema } },
  required: false,
} as const;
