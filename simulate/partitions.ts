/**
 * How a labelled training set is split among simulated clients: IID, the
 * pathological non-IID split of McMahan et al. 2017 (sort by label, cut into
 * 2N shards, 2 shards per client), and Dirichlet(alpha) label skew (Hsu et
 * al. 2019). Each returns, per client, the indices of its examples.
 */
import { sampleDirichlet, seededRandom, shuffleInPlace } from './seeded-random.ts';

export type PartitionName = 'iid' | 'pathological' | 'dirichlet';
export const PARTITION_NAMES: readonly PartitionName[] = ['iid', 'pathological', 'dirichlet'];

/** Example indices per client. */
export type Partition = Int32Array[];

function checkClients(clients: number, examples: number): void {
  if (!Number.isInteger(clients) || clients < 1)
    throw new RangeError(`clients must be a positive integer, got ${clients}`);
  if (clients > examples)
    throw new RangeError(`${clients} clients cannot each hold an example of ${examples}; use fewer clients`);
}

/**
 * Shuffle, then deal equal slices (the first `count % clients` get one more).
 * @example partitionIid(60000, 100, 1)[0].length // 600
 */
export function partitionIid(count: number, clients: number, seed: number): Partition {
  checkClients(clients, count);
  const order = shuffleInPlace(
    Int32Array.from({ length: count }, (_, i) => i),
    seededRandom(seed),
  );
  const base = Math.floor(count / clients);
  const extra = count % clients;
  const out: Partition = [];
  let start = 0;
  for (let c = 0; c < clients; c++) {
    const size = base + (c < extra ? 1 : 0);
    out.push(order.slice(start, start + size));
    start += size;
  }
  return out;
}

/**
 * McMahan et al. 2017: sort by label, cut into `clients * shardsPerClient`
 * shards of equal size, give each client `shardsPerClient` random shards.
 * For 60,000 examples and 100 clients: 200 shards of 300, 600 per client,
 * and most clients see only two digits. Leftover examples (count not
 * divisible by the shard count) are left out, as in the paper's arithmetic.
 *
 * @example partitionPathological(mnist.labels, 100, 1) // 100 x 600 indices
 */
export function partitionPathological(
  labels: ArrayLike<number>,
  clients: number,
  seed: number,
  shardsPerClient = 2,
): Partition {
  const shards = clients * shardsPerClient;
  checkClients(shards, labels.length);
  const byLabel = Int32Array.from({ length: labels.length }, (_, i) => i).sort(
    (a, b) => labels[a] - labels[b] || a - b,
  );
  const shardSize = Math.floor(labels.length / shards);
  const shardOrder = shuffleInPlace(
    Int32Array.from({ length: shards }, (_, i) => i),
    seededRandom(seed),
  );
  const out: Partition = [];
  for (let c = 0; c < clients; c++) {
    const mine = new Int32Array(shardSize * shardsPerClient);
    for (let s = 0; s < shardsPerClient; s++) {
      const shard = shardOrder[c * shardsPerClient + s];
      mine.set(byLabel.subarray(shard * shardSize, (shard + 1) * shardSize), s * shardSize);
    }
    out.push(mine);
  }
  return out;
}

/**
 * Per class, split its examples among clients in proportions drawn from
 * Dirichlet(alpha): small alpha (0.1) gives a few classes per client, large
 * alpha (100) approaches IID. Redraws until every client holds at least
 * `minPerClient` examples (as Hsu et al. do), up to 100 tries.
 *
 * @example partitionDirichlet(mnist.labels, 100, 0.5, 1)
 */
export function partitionDirichlet(
  labels: ArrayLike<number>,
  clients: number,
  alpha: number,
  seed: number,
  minPerClient = 10,
): Partition {
  checkClients(clients, labels.length);
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new RangeError(`alpha must be a positive number, got ${alpha}`);
  const random = seededRandom(seed);
  const classes = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = classes.get(labels[i]) ?? [];
    list.push(i);
    classes.set(labels[i], list);
  }
  const keys = [...classes.keys()].sort((a, b) => a - b);
  for (let attempt = 0; attempt < 100; attempt++) {
    const buckets: number[][] = Array.from({ length: clients }, () => []);
    for (const key of keys) {
      const members = shuffleInPlace([...classes.get(key)!], random);
      const p = sampleDirichlet(clients, alpha, random);
      let start = 0;
      let cumulative = 0;
      for (let c = 0; c < clients; c++) {
        cumulative += p[c];
        const end = c === clients - 1 ? members.length : Math.round(cumulative * members.length);
        for (let i = start; i < end; i++) buckets[c].push(members[i]);
        start = Math.max(start, end);
      }
    }
    if (buckets.every((b) => b.length >= minPerClient)) return buckets.map((b) => Int32Array.from(b));
  }
  throw new RangeError(
    `Dirichlet(alpha=${alpha}) left some of ${clients} clients with fewer than ${minPerClient} examples in 100 draws; raise --alpha or lower --clients`,
  );
}
