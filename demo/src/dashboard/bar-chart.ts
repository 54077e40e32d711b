/**
 * Paired bars as inline SVG: canary next to control, one group per metric.
 * Metrics have different units (a rate, milliseconds, a PSI), so each group
 * is scaled to its own largest value and labelled with the raw numbers; the
 * chart compares within a metric, never across.
 */
import { escapeXml } from './svg-chart.ts';

export interface BarGroup {
  label: string;
  canary: number | null;
  control: number | null;
  /** Colour of the canary bar: the metric's outcome, e.g. fail = red. */
  tone?: 'pass' | 'marginal' | 'fail' | 'insufficient';
}

const TONES: Record<NonNullable<BarGroup['tone']>, string> = {
  pass: '#4ade80',
  marginal: '#facc15',
  fail: '#f87171',
  insufficient: '#94a3b8',
};
const CONTROL = '#60a5fa';

function short(v: number): string {
  return Math.abs(v) >= 100 ? String(Math.round(v)) : Number(v.toPrecision(3)).toString();
}

/**
 * @example
 * el.innerHTML = pairedBarChart([{ label: 'accuracy', canary: 0.91, control: 0.93, tone: 'marginal' }], { title: 'Canary vs control' });
 */
export function pairedBarChart(
  groups: readonly BarGroup[],
  options: { title: string; width?: number; height?: number },
): string {
  const width = options.width ?? 480;
  const height = options.height ?? 200;
  const pad = { left: 12, right: 12, top: 28, bottom: 30 };
  const plot = height - pad.top - pad.bottom;
  const slot = (width - pad.left - pad.right) / Math.max(1, groups.length);
  const bar = Math.min(28, slot / 3);
  const head = `<text x="${pad.left}" y="15">${escapeXml(options.title)}</text><text x="${width - pad.right}" y="15" text-anchor="end"><tspan style="fill:${TONES.pass}">■ canary</tspan> <tspan style="fill:${CONTROL}">■ control</tspan></text>`;
  const body = groups
    .map((g, i) => {
      const max = Math.max(Math.abs(g.canary ?? 0), Math.abs(g.control ?? 0)) || 1;
      const x = pad.left + i * slot + slot / 2;
      const one = (value: number | null, at: number, color: string, cohort: string) => {
        if (value === null || !Number.isFinite(value))
          return `<text x="${(at + bar / 2).toFixed(1)}" y="${height - pad.bottom - 4}" text-anchor="middle">–</text>`;
        const h = (Math.abs(value) / max) * (plot - 14);
        const y = height - pad.bottom - h;
        return `<rect x="${at.toFixed(1)}" y="${y.toFixed(1)}" width="${bar.toFixed(1)}" height="${h.toFixed(1)}" fill="${color}" data-cohort="${cohort}" data-metric="${escapeXml(g.label)}"><title>${escapeXml(`${g.label} ${cohort}: ${value}`)}</title></rect><text x="${(at + bar / 2).toFixed(1)}" y="${(y - 3).toFixed(1)}" text-anchor="middle">${short(value)}</text>`;
      };
      return (
        one(g.canary, x - bar - 1, TONES[g.tone ?? 'pass'], 'canary') +
        one(g.control, x + 1, CONTROL, 'control') +
        `<text x="${x.toFixed(1)}" y="${height - 12}" text-anchor="middle">${escapeXml(g.label)}</text>`
      );
    })
    .join('');
  const axis = `<line x1="${pad.left}" x2="${width - pad.right}" y1="${height - pad.bottom}" y2="${height - pad.bottom}" stroke="#334155"/>`;
  return `<svg class="chart" role="img" aria-label="${escapeXml(options.title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${head}${axis}${groups.length === 0 ? `<text x="${width / 2}" y="${height / 2}" text-anchor="middle">no evidence yet</text>` : body}</svg>`;
}
