/**
 * `npm run bench`: runs every `test/bench/*.bench.ts` (or those whose name
 * contains one of the CLI arguments), prints each table, and writes one JSON
 * file per benchmark to `test/bench/results/`.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchTable, BenchValue, Benchmark } from './bench-types.ts';

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');

function formatValue(value: BenchValue): string {
  if (value === null) return '-';
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(3);
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(abs >= 100 ? 1 : 3);
}

/** Renders a table as aligned plain text. */
export function renderTable(table: BenchTable): string {
  const cells = table.rows.map((row) => table.columns.map((c) => formatValue(row[c] ?? null)));
  const widths = table.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join('  ');
  const out = [`\n## ${table.title}`, line(table.columns), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const row of cells) out.push(line(row));
  for (const note of table.notes ?? []) out.push(`  * ${note}`);
  return out.join('\n');
}

async function main(filters: string[]): Promise<void> {
  const files = (await readdir(here)).filter((f) => f.endsWith('.bench.ts')).sort();
  const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
  if (selected.length === 0) throw new Error(`no benchmark matches ${filters.join(', ')}; have ${files.join(', ')}`);
  await mkdir(resultsDir, { recursive: true });
  const failed: string[] = [];
  for (const file of selected) {
    const mod = (await import(pathToFileURL(join(here, file)).href)) as { default: Benchmark };
    const bench = mod.default;
    process.stdout.write(`\n# ${bench.name} (${file})\n`);
    const started = Date.now();
    let tables: BenchTable[];
    try {
      tables = await bench.run();
    } catch (error) {
      // One failing benchmark must not hide the others' figures: say so, go on, and exit 1 at the end.
      process.stderr.write(`bench ${bench.name} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      failed.push(bench.name);
      continue;
    }
    for (const table of tables) process.stdout.write(renderTable(table) + '\n');
    const json = {
      name: bench.name,
      file,
      startedAt: new Date(started).toISOString(),
      seconds: (Date.now() - started) / 1000,
      node: process.version,
      tables,
    };
    await writeFile(join(resultsDir, `${bench.name}.json`), JSON.stringify(json, null, 2));
  }
  process.stdout.write(`\nresults written to ${resultsDir}\n`);
  if (failed.length > 0)
    throw new Error(`${failed.length} of ${selected.length} benchmarks failed: ${failed.join(', ')}`);
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
