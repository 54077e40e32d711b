/**
 * A dependency-free SVG line plot of test accuracy per round, one line per
 * series and an optional dashed target line, for `flock simulate --plot`.
 */
import type { AccuracyPoint } from './targets.ts';

export interface PlotSeries {
  name: string;
  points: readonly AccuracyPoint[];
}

export interface PlotOptions {
  title?: string;
  target?: number;
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];

const escapeXml = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * @example
 * writeFileSync('acc.svg', accuracyPlotSvg([{ name: '2nn iid', points: history }], { target: 0.97 }));
 */
export function accuracyPlotSvg(series: readonly PlotSeries[], options: PlotOptions = {}): string {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const m = { left: 56, right: 16, top: 32, bottom: 44 };
  const all = series.flatMap((s) => s.points);
  const maxRound = Math.max(1, ...all.map((p) => p.round));
  const accs = all.map((p) => p.accuracy).concat(options.target === undefined ? [] : [options.target]);
  // Zoom on the interesting band but keep 1.0 in view.
  const yMin = accs.length ? Math.max(0, Math.floor(Math.min(...accs) * 10) / 10) : 0;
  const x = (round: number) => m.left + (round / maxRound) * (width - m.left - m.right);
  const y = (acc: number) => m.top + (1 - (acc - yMin) / (1 - yMin || 1)) * (height - m.top - m.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(options.title ?? 'Test accuracy per round')}</text>`,
    `<line x1="${m.left}" y1="${height - m.bottom}" x2="${width - m.right}" y2="${height - m.bottom}" stroke="black"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${height - m.bottom}" stroke="black"/>`,
    `<text x="${(width + m.left) / 2}" y="${height - 8}" text-anchor="middle">round</text>`,
    `<text x="14" y="${height / 2}" text-anchor="middle" transform="rotate(-90 14 ${height / 2})">test accuracy</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const acc = yMin + ((1 - yMin) * i) / 5;
    parts.push(`<text x="${m.left - 6}" y="${y(acc) + 4}" text-anchor="end">${acc.toFixed(2)}</text>`);
    const round = Math.round((maxRound * i) / 5);
    parts.push(`<text x="${x(round)}" y="${height - m.bottom + 16}" text-anchor="middle">${round}</text>`);
  }
  if (options.target !== undefined) {
    parts.push(
      `<line x1="${m.left}" y1="${y(options.target)}" x2="${width - m.right}" y2="${y(options.target)}" stroke="gray" stroke-dasharray="4 4"/>`,
    );
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = [...s.points]
      .sort((a, b) => a.round - b.round)
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.round).toFixed(1)},${y(p.accuracy).toFixed(1)}`)
      .join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    parts.push(
      `<text x="${width - m.right - 4}" y="${m.top + 16 + i * 16}" text-anchor="end" fill="${color}">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
