import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RolloutViewSchema } from '../coordinator/routes/admin-rollouts.ts';
import { HealthSchema } from '../coordinator/routes/public.ts';
import { HealthAnswerSchema, RolloutAnswerSchema } from './answer-schemas.ts';

// JSON Schema of the whole object: field names, types, nullability and which are required.
const shapeOf = (schema: z.ZodObject) => z.toJSONSchema(schema, { io: 'output' });

describe("the CLI's copies of the coordinator's answer schemas", () => {
  it('GET /healthz: the same fields as the route declares', () => {
    expect(shapeOf(HealthAnswerSchema)).toEqual(shapeOf(HealthSchema));
  });

  it('rollouts: the same fields as the routes declare (the shadow without its input limits)', () => {
    expect(shapeOf(RolloutAnswerSchema.omit({ shadow: true }))).toEqual(shapeOf(RolloutViewSchema.omit({ shadow: true })));
    expect(Object.keys(RolloutAnswerSchema.shape).sort()).toEqual(Object.keys(RolloutViewSchema.shape).sort());
    const shadow = { id: 'r', shadow: { version: 3, sampleRate: 0.1 } };
    expect(RolloutAnswerSchema.pick({ shadow: true }).parse(shadow)).toEqual(RolloutViewSchema.pick({ shadow: true }).parse(shadow));
    expect(RolloutAnswerSchema.pick({ shadow: true }).parse({})).toEqual(RolloutViewSchema.pick({ shadow: true }).parse({}));
  });
});
