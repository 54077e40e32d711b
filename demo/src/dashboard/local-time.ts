/**
 * One compact way to show an instant on the dashboard: local
 * `YYYY-MM-DD HH:MM:SS`, sortable by eye and short enough for a table cell
 * (toLocaleString wrapped to two lines in every audit row).
 */

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * @example
 * localTime('2026-12-03T13:30:54.901Z'); // '2026-12-03 13:30:54' in UTC
 */
export function localTime(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
}
