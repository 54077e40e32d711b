/**
 * Line charts as inline SVG strings: no chart library is installed, and a
 * dashboard of a few series per round needs axes, lines and points only.
 * Pure (string in, string out), so it is tested in Node.
 */

export interface ChartSeries {
  name: string;
  color: string;
  points: { x: number; y: number }[];
}

export interface LineChartOptions {
  title: string;
  width?: number;
  height?: number;
  xLabel?: string;
  /** Fixed y range (e.g. [0, 1] for accuracy); default: the data's range. */
  yDomain?: [number, number];
}

/** Escape text for SVG/HTML content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

function formatTick(v: number): string {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toPrecision(2);
}

/**
 * @example
 * el.innerHTML = lineChart([{ name: 'accuracy', color: '#4ade80', points: [{ x: 1, y: 0.8 }, { x: 2, y: 0.86 }] }], { title: 'Accuracy per round', yDomain: [0, 1] });
 */
export function lineChart(series: readonly ChartSeries[], options: LineChartOptions): string {
  const width = options.width ?? 480;
  const height = options.height ?? 200;
  const pad = { left: 44, right: 12, top: 24, bottom: 30 };
  const points = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const title = `<text x="${pad.left}" y="15">${escapeXml(options.title)}</text>`;
  if (points.length === 0) {
    return `<svg class="chart" role="img" aria-label="${escapeXml(options.title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${title}<text x="${width / 2}" y="${height / 2}" text-anchor="middle">no data yet</text></svg>`;
  }
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = options.yDomain ?? [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y: number) => height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const f = (n: number) => n.toFixed(1);
  const grid = [0, 0.5, 1]
    .map((t) => y0 + t * (y1 - y0))
    .map(
      (v) =>
        `<line x1="${pad.left}" x2="${width - pad.right}" y1="${f(sy(v))}" y2="${f(sy(v))}" stroke="#334155"/><text x="${pad.left - 6}" y="${f(sy(v) + 4)}" text-anchor="end">${formatTick(v)}</text>`,
    )
    .join('');
  const xTicks = [x0, x1]
    .map((v) => `<text x="${f(sx(v))}" y="${height - 10}" text-anchor="middle">${formatTick(v)}</text>`)
    .join('');
  const xLabel = options.xLabel
    ? `<text x="${(width + pad.left) / 2}" y="${height - 2}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`
    : '';
  const lines = series
    .map((s) => {
      const ps = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
      if (ps.length === 0) return '';
      const path = ps.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(sx(p.x))},${f(sy(p.y))}`).join(' ');
      const dots = ps
        .map(
          (p) =>
            `<circle cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="2.5" fill="${escapeXml(s.color)}"><title>${escapeXml(s.name)} ${p.x}: ${p.y}</title></circle>`,
        )
        .join('');
      return `<path d="${path}" fill="none" stroke="${escapeXml(s.color)}" stroke-width="2" data-series="${escapeXml(s.name)}"/>${dots}`;
    })
    .join('');
  const legend = series
    .map(
      (s, i) =>
        `<text x="${width - pad.right - 110 * (series.length - i) + 110}" y="15" fill="${escapeXml(s.color)}" text-anchor="end" style="fill:${escapeXml(s.color)}">${escapeXml(s.name)}</text>`,
    )
    .join('');
  return `<svg class="chart" role="img" aria-label="${escapeXml(options.title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${title}${legend}${grid}${xTicks}${xLabel}${lines}</svg>`;
}
