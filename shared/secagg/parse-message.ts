/**
 * Schema checks for secure-aggregation messages: a message that does not
 * parse is refused with a `bad-message` SecAggError naming the first problem.
 */
import type { z } from 'zod';
import { SecAggError } from './secagg-error.ts';

/** Parses `value` with `schema` or throws `bad-message`. */
export function parseOrRefuse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SecAggError(
      'bad-message',
      `the ${what} is malformed at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}
