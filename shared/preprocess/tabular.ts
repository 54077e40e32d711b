/**
 * Records of named fields to features: each numeric field standardised with
 * its stored mean and std (missing -> the stored fill, default the mean),
 * each categorical field one-hot over its vocabulary plus an
 * out-of-vocabulary bucket (which missing values take too). Field order is
 * the spec's; extra fields in the record are ignored.
 */
import { PreprocessInputError } from './input-error.ts';
import type { TabularField, TabularPreprocess } from './spec.ts';

export function tabularWidth(spec: TabularPreprocess): number {
  return spec.fields.reduce((n, f) => n + (f.type === 'numeric' ? 1 : f.vocabulary.length + 1), 0);
}

const isMissing = (v: unknown) => v === undefined || v === null || v === '';

/**
 * @throws PreprocessInputError naming the field: 'wrong_kind' when `raw` is
 *   not a plain object, 'bad_value' for a non-numeric or non-finite number
 */
export function tabularFeatures(spec: TabularPreprocess, raw: unknown): Float32Array {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PreprocessInputError(
      'wrong_kind',
      'record',
      `this model reads a record of fields (${spec.fields.map((f) => f.name).join(', ')}); got ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}`,
    );
  }
  const record = raw as Record<string, unknown>;
  const out = new Float32Array(tabularWidth(spec));
  let at = 0;
  for (const field of spec.fields) {
    // Own properties only: a field named `constructor` must not read Object.prototype.
    const value = Object.hasOwn(record, field.name) ? record[field.name] : undefined;
    at = field.type === 'numeric' ? numeric(field, value, out, at) : categorical(field, value, out, at);
  }
  return out;
}

function numeric(
  field: Extract<TabularField, { type: 'numeric' }>,
  value: unknown,
  out: Float32Array,
  at: number,
): number {
  let v: number;
  if (isMissing(value)) v = field.missing ?? field.mean;
  else if (typeof value === 'number') v = value;
  else if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) v = Number(value);
  else
    throw new PreprocessInputError(
      'bad_value',
      field.name,
      `field "${field.name}" must be a number; got ${JSON.stringify(value)?.slice(0, 80)}`,
    );
  if (!Number.isFinite(v))
    throw new PreprocessInputError('bad_value', field.name, `field "${field.name}" must be finite; got ${v}`);
  out[at] = (v - field.mean) / field.std;
  return at + 1;
}

function categorical(
  field: Extract<TabularField, { type: 'categorical' }>,
  value: unknown,
  out: Float32Array,
  at: number,
): number {
  const key = isMissing(value) ? null : String(value);
  const i = key === null ? -1 : field.vocabulary.indexOf(key);
  out[at + (i < 0 ? field.vocabulary.length : i)] = 1;
  return at + field.vocabulary.length + 1;
}

/**
 * Fits each field's statistics on example records: mean and (population)
 * std of numeric fields (std 1 when constant), the `maxCategories` most
 * frequent values of categorical ones.
 */
export function fitTabular(
  spec: TabularPreprocess,
  records: readonly Record<string, unknown>[],
  options: { maxCategories?: number } = {},
): TabularPreprocess {
  const fields = spec.fields.map((field): TabularField => {
    const values = records
      .map((r) => (Object.hasOwn(r, field.name) ? r[field.name] : undefined))
      .filter((v) => !isMissing(v));
    if (field.type === 'numeric') {
      const nums = values.map(Number).filter(Number.isFinite);
      const mean = nums.length ? nums.reduce((a, b) => a + b, 0) / nums.length : 0;
      const variance = nums.length ? nums.reduce((a, b) => a + (b - mean) ** 2, 0) / nums.length : 0;
      return { ...field, mean, std: variance > 0 ? Math.sqrt(variance) : 1 };
    }
    const counts = new Map<string, number>();
    for (const v of values) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
    const vocabulary = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, options.maxCategories ?? 64)
      .map(([v]) => v);
    return { ...field, vocabulary: vocabulary.length ? vocabulary : field.vocabulary };
  });
  return { ...spec, fields };
}
