/**
 * The SecAgg+ neighbour graph: a Harary graph H(k, n) (each device joined to
 * the k/2 nearest on either side of a ring) over a random ordering of the
 * cohort. The ordering comes from a public seed, SHA-256 of every advertised
 * key, so the coordinator fixes the graph the moment it publishes the roster
 * and cannot pick neighbourhoods after seeing the keys; every device
 * recomputes it from the roster it receives.
 */
import { encodeContext } from './context.ts';
import { maskStream } from './mask-stream.ts';

/** What the graph seed is computed from: each device's id and advertised public keys. */
export interface AdvertisedKeys {
  deviceId: string;
  /** X25519 public key (base64) the shares to this device are encrypted under. */
  channelPublicKey: string;
  /** X25519 public key (base64) of this device's pairwise masks. */
  maskingPublicKey: string;
}

export interface NeighbourGraph {
  /** Every device id, in code-unit order. */
  readonly ids: readonly string[];
  /** The neighbours of `deviceId` (not itself), in code-unit order; empty for an unknown id. */
  neighboursOf(deviceId: string): readonly string[];
  /** True when `a` and `b` are neighbours. */
  areNeighbours(a: string, b: string): boolean;
}

/** SHA-256 over the round id and every (id, channel key, masking key), devices in id order. */
export async function neighbourGraphSeed(roundId: string, devices: readonly AdvertisedKeys[]): Promise<Uint8Array> {
  const sorted = [...devices].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  const parts = sorted.flatMap((d) => [d.deviceId, d.channelPublicKey, d.maskingPublicKey]);
  const digest = await globalThis.crypto.subtle.digest(
    'SHA-256',
    encodeContext('neighbour-graph-seed', roundId, parts),
  );
  return new Uint8Array(digest);
}

/**
 * Fisher-Yates over `count` positions with uniform indices drawn from the
 * seed's mask stream (rejection sampling, so no index is favoured).
 */
async function seededPermutation(seed: Uint8Array, roundId: string, count: number): Promise<number[]> {
  const info = encodeContext('neighbour-graph-permutation', roundId, []);
  let words = await maskStream(seed, info, 2 * count + 16);
  let next = 0;
  const draw = async (): Promise<number> => {
    if (next === words.length) words = await maskStream(seed, info, words.length * 2); // same prefix, longer
    return words[next++];
  };
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const bound = i + 1;
    const limit = 2 ** 32 - (2 ** 32 % bound);
    let r = await draw();
    while (r >= limit) r = await draw();
    const j = r % bound;
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * The graph of the roster: complete when `neighbours` is n - 1, otherwise
 * H(neighbours, n) over the seeded ordering. `neighbours` must be even unless
 * it is n - 1 (checkSecAggParameters enforces this).
 */
export async function buildNeighbourGraph(
  roundId: string,
  devices: readonly AdvertisedKeys[],
  neighbours: number,
): Promise<NeighbourGraph> {
  const ids = devices.map((d) => d.deviceId).sort();
  const n = ids.length;
  const complete = neighbours >= n - 1;
  const neighbourSets = new Map<string, Set<string>>();
  if (complete) {
    for (const id of ids) neighbourSets.set(id, new Set(ids.filter((other) => other !== id)));
  } else {
    const order = await seededPermutation(await neighbourGraphSeed(roundId, devices), roundId, n);
    const ring = order.map((i) => ids[i]);
    for (const id of ids) neighbourSets.set(id, new Set());
    for (let p = 0; p < n; p++) {
      for (let step = 1; step <= neighbours / 2; step++) {
        const a = ring[p];
        const b = ring[(p + step) % n];
        neighbourSets.get(a)?.add(b);
        neighbourSets.get(b)?.add(a);
      }
    }
  }
  const lists = new Map([...neighbourSets].map(([id, set]) => [id, [...set].sort()]));
  return {
    ids,
    neighboursOf: (deviceId) => lists.get(deviceId) ?? [],
    areNeighbours: (a, b) => neighbourSets.get(a)?.has(b) ?? false,
  };
}
