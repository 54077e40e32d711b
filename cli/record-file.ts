/**
 * Labelled examples from a file, as records of named fields: CSV (a header
 * row, RFC 4180 quoting) or JSON Lines (one object per line), by extension.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from './usage-error.ts';

export type ExampleRecord = Record<string, unknown>;

/** Parses CSV text with a header row; quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): ExampleRecord[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field), (field = '');
      if (row.some((v) => v !== '')) rows.push(row);
      row = [];
    } else field += c;
  }
  row.push(field);
  if (row.some((v) => v !== '')) rows.push(row);
  const [header, ...body] = rows;
  if (!header) return [];
  return body.map((values, line) => {
    if (values.length !== header.length)
      throw new UsageError(`CSV row ${line + 2} has ${values.length} fields but the header has ${header.length}`);
    return Object.fromEntries(header.map((name, i) => [name, values[i]]));
  });
}

/**
 * @example const records = await readRecordFile('mails.jsonl'); // [{ text: '...', label: 'spam' }, ...]
 */
export async function readRecordFile(path: string): Promise<ExampleRecord[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  if (path.endsWith('.csv')) return parseCsv(text);
  if (path.endsWith('.jsonl') || path.endsWith('.ndjson'))
    return text
      .split('\n')
      .map((line, i) => ({ line: line.trim(), i }))
      .filter(({ line }) => line !== '')
      .map(({ line, i }) => {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch (error) {
          throw new UsageError(`${path} line ${i + 1} is not JSON: ${(error as Error).message}`);
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value))
          throw new UsageError(`${path} line ${i + 1} is not a JSON object`);
        return value as ExampleRecord;
      });
  throw new UsageError(`--from reads .csv or .jsonl files, got "${path}"`);
}
