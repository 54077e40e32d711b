/**
 * The target of one labelled example, as `flock holdout make` reads it from
 * a CSV or JSONL field, by the model spec's output kind (the same forms
 * `record(input, target)` takes on a device):
 * - multiclass, binary: a class index or one of the spec's label names;
 * - multilabel: the label names that apply (a JSON array, or names joined by
 *   `|` in CSV; empty for none), or one 0/1 per label;
 * - regression: a number, or one per output unit (a JSON array, or numbers
 *   joined by `|` in CSV).
 */
import type { OutputSpec } from '../shared/protocol/index.ts';
import { UsageError } from './usage-error.ts';

const shown = (raw: unknown) => JSON.stringify(raw) ?? String(raw);

function classIndex(raw: unknown, labels: readonly string[] | undefined, line: number, field: string): number {
  if (labels) {
    const at = labels.indexOf(String(raw));
    if (at >= 0) return at;
  }
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 255 || (labels && n >= labels.length))
    throw new UsageError(
      `example ${line}: ${field} is ${shown(raw)}; use ${labels ? `one of ${labels.join(', ')} or ` : ''}a class index 0..${labels ? labels.length - 1 : 255}`,
    );
  return n;
}

/** A CSV cell `a|b` or a JSON array, as a list; a JSON scalar as itself. */
function listOf(raw: unknown): unknown[] | null {
  if (Array.isArray(raw)) return raw;
  if (typeof raw !== 'string') return null;
  const text = raw.trim();
  if (text.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(text);
      return Array.isArray(parsed) ? parsed : null;
    } catch {
      return null;
    }
  }
  return text === '' ? [] : text.split('|').map((s) => s.trim());
}

/**
 * @param line the example's 1-based position, for messages
 * @throws UsageError naming the example, the field and the forms the kind takes
 *
 * @example
 * targetOf('spam', { kind: 'binary', threshold: 0.5, labels: ['ham', 'spam'] }, 1, 'label') // [1]
 * targetOf('sports|politics', { kind: 'multilabel', threshold: 0.5, labels: ['sports', 'politics', 'tech'] }, 1, 'label') // [1, 1, 0]
 * targetOf('212.5', { kind: 'regression' }, 1, 'label') // [212.5]
 */
export function targetOf(raw: unknown, output: OutputSpec, line: number, field: string): number[] {
  switch (output.kind) {
    case 'multiclass':
    case 'binary':
      return [classIndex(raw, output.labels, line, field)];
    case 'multilabel': {
      const labels = output.labels;
      const list = listOf(raw);
      if (list && list.length === labels.length && list.every((v) => v === 0 || v === 1 || v === '0' || v === '1'))
        return list.map(Number);
      if (list && list.every((v) => typeof v === 'string' && labels.includes(v)))
        return labels.map((name) => (list.includes(name) ? 1 : 0));
      throw new UsageError(
        `example ${line}: ${field} is ${shown(raw)}; use the labels that apply (among ${labels.join(', ')}; a JSON array, or joined by | in CSV) or ${labels.length} values of 0 or 1`,
      );
    }
    case 'regression': {
      const list = typeof raw === 'number' ? [raw] : listOf(raw);
      const values = (list ?? []).map((v) =>
        typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : Number.NaN,
      );
      if (values.length === 0 || values.some((v) => !Number.isFinite(v)))
        throw new UsageError(
          `example ${line}: ${field} is ${shown(raw)}; a regression target is a number, or one per output (a JSON array, or joined by | in CSV)`,
        );
      return values;
    }
  }
}
