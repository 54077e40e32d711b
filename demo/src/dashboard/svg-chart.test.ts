import { describe, expect, it } from 'vitest';
import { escapeXml, lineChart } from './svg-chart.ts';

function pathPoints(svg: string, name: string): [number, number][] {
  const m = new RegExp(`<path d="([^"]+)"[^>]*data-series="${name}"`).exec(svg);
  if (!m) throw new Error(`no path for ${name}`);
  return m[1].split(' ').map((seg) => seg.slice(1).split(',').map(Number) as [number, number]);
}

describe('lineChart', () => {
  it('maps points into the plot box, higher values higher up, x sorted', () => {
    const svg = lineChart(
      [
        {
          name: 'acc',
          color: '#0f0',
          points: [
            { x: 3, y: 0.9 },
            { x: 1, y: 0.5 },
            { x: 2, y: 0.7 },
          ],
        },
      ],
      { title: 'A', width: 400, height: 200, yDomain: [0, 1] },
    );
    const pts = pathPoints(svg, 'acc');
    expect(pts.map((p) => p[0])).toEqual([...pts.map((p) => p[0])].sort((a, b) => a - b));
    expect(pts[0][1]).toBeGreaterThan(pts[2][1]); // y=0.5 is drawn lower than y=0.9
    for (const [x, y] of pts) {
      expect(x).toBeGreaterThanOrEqual(44);
      expect(x).toBeLessThanOrEqual(388);
      expect(y).toBeGreaterThanOrEqual(24);
      expect(y).toBeLessThanOrEqual(170);
    }
    expect(svg.match(/<circle/g)?.length).toBe(3);
  });

  it('says so when there is no data, and skips non-finite points', () => {
    expect(lineChart([], { title: 'Loss' })).toContain('no data yet');
    const svg = lineChart(
      [
        {
          name: 'l',
          color: '#f00',
          points: [
            { x: 1, y: Number.NaN },
            { x: 2, y: 1 },
          ],
        },
      ],
      { title: 'Loss' },
    );
    expect(pathPoints(svg, 'l')).toHaveLength(1);
  });

  it('escapes text so labels cannot inject markup', () => {
    expect(escapeXml('<b a="1">&\'')).toBe('&lt;b a=&quot;1&quot;&gt;&amp;&#39;');
    expect(lineChart([], { title: '<script>' })).not.toContain('<script>');
  });
});
