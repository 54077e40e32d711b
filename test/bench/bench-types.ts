/**
 * The contract between `npm run bench` and each benchmark file.
 *
 * A benchmark file is `test/bench/<name>.bench.ts` and exports
 * `default: Benchmark`. Rows are measured side by side in one run; put the
 * baseline (a plain typed-array loop, raw tfjs, ...) in the same table and a
 * `ratio` column against it, because this machine is shared and noisy and only
 * ratios measured together mean anything.
 */
export type BenchValue = string | number | null;

export interface BenchTable {
  /** Short title printed above the table. */
  title: string;
  /** Column names in print order. */
  columns: string[];
  rows: Array<Record<string, BenchValue>>;
  /** How the figures were measured (printed under the table, saved in the JSON). */
  notes?: string[];
}

export interface Benchmark {
  name: string;
  run: () => Promise<BenchTable[]>;
}

/** Median of a list of numbers (copies; does not sort in place). */
export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Times `fn` `repeats` times after `warmup` untimed calls and returns the
 * per-call durations in milliseconds.
 */
export async function timeRepeated(
  fn: () => unknown | Promise<unknown>,
  { repeats = 7, warmup = 2 }: { repeats?: number; warmup?: number } = {},
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return times;
}
