import { describe, expect, it } from 'vitest';
import { accuracyPlotSvg } from './plot.ts';
import { createProgress, renderBar } from './progress.ts';

describe('accuracyPlotSvg', () => {
  it('draws one path per series with one point per round and a dashed target', () => {
    const svg = accuracyPlotSvg(
      [
        {
          name: 'a<b',
          points: [
            { round: 0, accuracy: 0.1 },
            { round: 1, accuracy: 0.8 },
            { round: 2, accuracy: 0.9 },
          ],
        },
      ],
      { target: 0.97 },
    );
    expect(svg.startsWith('<svg')).toBe(true);
    const path = /<path d="([^"]+)"/.exec(svg)?.[1] ?? '';
    expect(path.split(' ').filter((s) => /^[ML]/.test(s))).toHaveLength(3);
    expect(svg).toContain('stroke-dasharray');
    expect(svg).toContain('a&#60;b');
  });
});

describe('progress', () => {
  it('renders a proportional bar', () => {
    expect(renderBar(5, 10, 'x', 80)).toMatch(/^\[#{20}-{20}\] 5\/10 x$/);
  });

  it('writes plain lines when not a TTY and a redrawn bar when it is', () => {
    const plain: string[] = [];
    const p = createProgress({ write: (t) => plain.push(t) }, 3, 'sim');
    p.update(1, 'acc 0.5');
    p.finish();
    expect(plain).toEqual(['sim 1/3 acc 0.5\n']);
    const tty: string[] = [];
    const q = createProgress({ write: (t) => tty.push(t), isTTY: true }, 3, 'sim');
    q.update(2, 'ok');
    q.finish();
    expect(tty[0].startsWith('\r')).toBe(true);
    expect(tty[1]).toBe('\n');
  });
});
