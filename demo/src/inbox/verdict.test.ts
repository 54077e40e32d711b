import { describe, expect, it } from 'vitest';
import type { Prediction } from 'flock-ml';
import { InboxModelError, spamVerdict } from './verdict.ts';

const base = { latencyMs: 1, cached: false };

function binary(probability: number, labels?: [string, string], threshold = 0.5): Prediction {
  const positive = probability >= threshold;
  return {
    ...base,
    kind: 'binary',
    probabilities: Float32Array.of(probability),
    probability,
    positive,
    threshold,
    label: positive ? 1 : 0,
    confidence: positive ? probability : 1 - probability,
    ...(labels ? { labelName: labels[positive ? 1 : 0] } : {}),
  };
}

describe('spamVerdict', () => {
  it('reads a ham,spam sigmoid by its stored threshold', () => {
    expect(spamVerdict(binary(0.9, ['ham', 'spam']))).toEqual({ label: 'spam', spamProbability: 0.9 });
    expect(spamVerdict(binary(0.2, ['ham', 'spam']))).toEqual({ label: 'ham', spamProbability: 0.2 });
    expect(spamVerdict(binary(0.6, ['ham', 'spam'], 0.7))).toEqual({ label: 'ham', spamProbability: 0.6 });
    expect(spamVerdict(binary(0.9))).toEqual({ label: 'spam', spamProbability: 0.9 });
  });

  it('turns a spam,ham sigmoid around', () => {
    const v = spamVerdict(binary(0.9, ['spam', 'ham']));
    expect(v.label).toBe('ham');
    expect(v.spamProbability).toBeCloseTo(0.1, 6);
  });

  it('reads a two-class softmax, and refuses other outputs', () => {
    const two = (p: [number, number], labels?: string[]): Prediction => {
      const label = p[1] > p[0] ? 1 : 0;
      return {
        ...base,
        kind: 'multiclass',
        probabilities: Float32Array.from(p),
        label,
        confidence: p[label],
        ...(labels ? { labelName: labels[label] } : {}),
      };
    };
    expect(spamVerdict(two([0.25, 0.75], ['ham', 'spam']))).toEqual({ label: 'spam', spamProbability: 0.75 });
    expect(spamVerdict(two([0.75, 0.25]))).toEqual({ label: 'ham', spamProbability: 0.25 });
    expect(spamVerdict(two([0.75, 0.25], ['spam', 'ham']))).toEqual({ label: 'spam', spamProbability: 0.75 });
    const ten: Prediction = {
      ...base,
      kind: 'multiclass',
      probabilities: new Float32Array(10),
      label: 3,
      confidence: 0.1,
    };
    expect(() => spamVerdict(ten)).toThrow(InboxModelError);
  });
});
