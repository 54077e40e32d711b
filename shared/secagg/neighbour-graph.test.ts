import { describe, expect, it } from 'vitest';
import { bytesToBase64 } from '../manifest/bytes.ts';
import { type AdvertisedKeys, buildNeighbourGraph, neighbourGraphSeed } from './neighbour-graph.ts';

function fakeKeys(n: number, salt = 0): AdvertisedKeys[] {
  return Array.from({ length: n }, (_, i) => ({
    deviceId: `device-${String(i).padStart(3, '0')}`,
    channelPublicKey: bytesToBase64(new Uint8Array(32).fill((i + salt) & 0xff)),
    maskingPublicKey: bytesToBase64(new Uint8Array(32).fill((i * 7 + salt) & 0xff)),
  }));
}

function edges(graph: Awaited<ReturnType<typeof buildNeighbourGraph>>): string[] {
  return graph.ids.flatMap((a) =>
    graph
      .neighboursOf(a)
      .filter((b) => a < b)
      .map((b) => `${a}-${b}`),
  );
}

describe('buildNeighbourGraph', () => {
  it('is k-regular and symmetric, with no self-loops', async () => {
    const graph = await buildNeighbourGraph('round-1', fakeKeys(50), 12);
    for (const id of graph.ids) {
      const nbrs = graph.neighboursOf(id);
      expect(nbrs).toHaveLength(12);
      expect(nbrs).not.toContain(id);
      for (const other of nbrs) expect(graph.areNeighbours(other, id)).toBe(true);
    }
    expect(edges(graph)).toHaveLength((50 * 12) / 2);
  });

  it('stays connected after removing any k - 1 devices (Harary graphs are k-connected)', async () => {
    const graph = await buildNeighbourGraph('round-1', fakeKeys(40), 6);
    // Remove 5 devices consecutive in one device's neighbourhood: the worst case for a ring.
    const removed = new Set(graph.neighboursOf(graph.ids[0]).slice(0, 5));
    const left = graph.ids.filter((id) => !removed.has(id));
    const seen = new Set([left[0]]);
    const queue = [left[0]];
    while (queue.length)
      for (const b of graph.neighboursOf(queue.pop() as string))
        if (!removed.has(b) && !seen.has(b)) seen.add(b), queue.push(b);
    expect(seen.size).toBe(left.length);
  });

  it('is the same for the same keys, in any order, and another graph when one key changes', async () => {
    const keys = fakeKeys(30);
    const a = edges(await buildNeighbourGraph('round-1', keys, 8));
    expect(edges(await buildNeighbourGraph('round-1', [...keys].reverse(), 8))).toEqual(a);
    const changed = keys.map((k, i) =>
      i === 3 ? { ...k, maskingPublicKey: bytesToBase64(new Uint8Array(32).fill(200)) } : k,
    );
    expect(edges(await buildNeighbourGraph('round-1', changed, 8))).not.toEqual(a);
    expect(edges(await buildNeighbourGraph('round-2', keys, 8))).not.toEqual(a);
  });

  it('seeds from every key: changing any single key changes the seed', async () => {
    const keys = fakeKeys(5);
    const base = bytesToBase64(await neighbourGraphSeed('r', keys));
    for (let i = 0; i < keys.length; i++) {
      for (const field of ['channelPublicKey', 'maskingPublicKey'] as const) {
        const changed = keys.map((k, j) =>
          j === i ? { ...k, [field]: bytesToBase64(new Uint8Array(32).fill(99)) } : k,
        );
        expect(bytesToBase64(await neighbourGraphSeed('r', changed))).not.toBe(base);
      }
    }
  });

  it('is complete when k = n - 1', async () => {
    const graph = await buildNeighbourGraph('round-1', fakeKeys(7), 6);
    for (const id of graph.ids) expect(graph.neighboursOf(id)).toEqual(graph.ids.filter((x) => x !== id));
  });
});
