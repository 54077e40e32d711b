/**
 * Bench support: the server's unmasking of a cohort too large to run whole
 * (n = 1,000), through the same `unmaskSum` that `SecAggServer.finish()`
 * runs, over real secrets made the way devices make them: one X25519 masking
 * key pair and one 32-byte self-mask seed per device, each split with
 * shamir-secret-sharing into one share per neighbour of the real neighbour
 * graph (threshold t); survivors reveal what `SecAggDevice.unmask` reveals
 * (the seed share of each surviving neighbour, the key share of each dropped
 * one). What is skipped is only the transport (sealing the shares to
 * neighbours and forwarding them), whose cost is on the devices.
 *
 * The unmask work (one Shamir combine and one mask stream per survivor; one
 * combine, one key check and one stream per (dropped device, surviving
 * neighbour) pair) does not depend on the masked words, so the timed call
 * runs on a zero sum of d words; a first call on 64 words checks that the
 * shares and keys really unmask: it must turn the masked sum back into the
 * plain sum of the survivors' inputs.
 */
import { split } from 'shamir-secret-sharing';
import { bytesToBase64 } from '../../shared/manifest/bytes.ts';
import { pairContext, selfMaskContext } from '../../shared/secagg/context.ts';
import { deviceIdAt, pickRandom, testPrng } from '../../shared/secagg/in-memory-round.fixture.ts';
import { maskStream } from '../../shared/secagg/mask-stream.ts';
import type { Roster } from '../../shared/secagg/messages.ts';
import { addMod32InPlace, subtractMod32InPlace } from '../../shared/secagg/mod32.ts';
import { buildNeighbourGraph, type NeighbourGraph } from '../../shared/secagg/neighbour-graph.ts';
import type { SecAggParameters } from '../../shared/secagg/parameters.ts';
import { type CollectedShares, unmaskSum } from '../../shared/secagg/unmask.ts';
import { agree, exportPrivateScalar, exportPublicKey, generateX25519 } from '../../shared/secagg/x25519.ts';

const CHECK_WORDS = 64;

interface Cohort {
  roundId: string;
  roster: Roster;
  graph: NeighbourGraph;
  keys: Map<string, CryptoKeyPair>;
  seeds: Map<string, Uint8Array>;
  /** Holder -> (owner -> its share of the owner's seed / masking key). */
  seedShares: Map<string, Map<string, Uint8Array>>;
  keyShares: Map<string, Map<string, Uint8Array>>;
}

/** n devices' keys, seeds and shares over the real graph of their keys. */
export async function makeCohort(roundId: string, n: number, parameters: SecAggParameters): Promise<Cohort> {
  const keys = new Map<string, CryptoKeyPair>();
  const devices: Roster['devices'] = [];
  for (let i = 0; i < n; i++) {
    const id = deviceIdAt(i);
    const pair = await generateX25519();
    keys.set(id, pair);
    const publicKey = await exportPublicKey(pair.publicKey);
    // The channel key only seals shares in transit, which this path skips.
    devices.push({ deviceId: id, channelPublicKey: publicKey, maskingPublicKey: publicKey });
  }
  const roster: Roster = { type: 'secagg.roster', roundId, vectorLength: CHECK_WORDS, parameters, devices };
  const graph = await buildNeighbourGraph(roundId, devices, parameters.neighbours);
  const seeds = new Map<string, Uint8Array>();
  const seedShares = new Map(graph.ids.map((id) => [id, new Map<string, Uint8Array>()]));
  const keyShares = new Map(graph.ids.map((id) => [id, new Map<string, Uint8Array>()]));
  for (const id of graph.ids) {
    const seed = globalThis.crypto.getRandomValues(new Uint8Array(32));
    seeds.set(id, seed);
    const holders = graph.neighboursOf(id);
    const ofSeed = await split(seed, holders.length, parameters.threshold);
    const ofKey = await split(
      await exportPrivateScalar((keys.get(id) as CryptoKeyPair).privateKey),
      holders.length,
      parameters.threshold,
    );
    holders.forEach((h, i) => {
      seedShares.get(h)?.set(id, ofSeed[i]);
      keyShares.get(h)?.set(id, ofKey[i]);
    });
  }
  return { roundId, roster, graph, keys, seeds, seedShares, keyShares };
}

/** `count` devices whose loss leaves every device at least t live neighbours (as recoverableDrops). */
export function recoverableDropouts(cohort: Cohort, count: number, seed: number): Set<string> {
  const { graph } = cohort;
  const t = cohort.roster.parameters.threshold;
  const live = new Set(graph.ids);
  const out = new Set<string>();
  for (const id of pickRandom(graph.ids, graph.ids.length, testPrng(seed))) {
    if (out.size === count) break;
    live.delete(id);
    if (graph.ids.every((x) => graph.neighboursOf(x).filter((y) => live.has(y)).length >= t)) out.add(id);
    else live.add(id);
  }
  return out;
}

export interface UnmaskTiming {
  survivors: number;
  dropped: number;
  /** AES-CTR streams of 4d bytes unmasking generates (survivors + dropped-survivor pairs). */
  streams: number;
  unmaskMs: number;
}

/** Checks the shares unmask a real masked sum on 64 words, then times unmasking d words. */
export async function timeUnmask(
  cohort: Cohort,
  droppedSet: ReadonlySet<string>,
  words: number,
): Promise<UnmaskTiming> {
  const { roundId, graph, roster } = cohort;
  const survivors = graph.ids.filter((id) => !droppedSet.has(id));
  const alive = new Set(survivors);
  const dropped = [...droppedSet].filter((v) => graph.neighboursOf(v).some((u) => alive.has(u))).sort();
  const responses = new Map<string, CollectedShares>();
  for (const h of survivors) {
    const collected: CollectedShares = { selfMaskSeed: new Map(), maskingKey: new Map() };
    for (const [of, share] of cohort.seedShares.get(h) ?? [])
      if (alive.has(of)) collected.selfMaskSeed.set(of, bytesToBase64(share));
    for (const [of, share] of cohort.keyShares.get(h) ?? [])
      if (droppedSet.has(of)) collected.maskingKey.set(of, bytesToBase64(share));
    responses.set(h, collected);
  }
  const pairs = new Map(graph.ids.map((id) => [id, new Set(graph.neighboursOf(id))]));
  const inputs = { roundId, roster, pairs, survivors, dropped, responses };

  // The check: survivors' masked inputs summed (pairs between two survivors cancel, so only
  // survivor-dropped pairs are added), then unmasked, must equal the plain sum.
  const rand = testPrng(0xc0ffee);
  const plain = new Uint32Array(CHECK_WORDS);
  const masked = new Uint32Array(CHECK_WORDS);
  for (const u of survivors) {
    const x = Uint32Array.from({ length: CHECK_WORDS }, () => Math.floor(rand() * 2 ** 20));
    addMod32InPlace(plain, x);
    addMod32InPlace(masked, x);
    addMod32InPlace(
      masked,
      await maskStream(cohort.seeds.get(u) as Uint8Array, selfMaskContext(roundId, u), CHECK_WORDS),
    );
    for (const v of graph.neighboursOf(u)) {
      if (alive.has(v)) continue;
      const publicKey = (cohort.keys.get(v) as CryptoKeyPair).publicKey;
      const secret = await agree((cohort.keys.get(u) as CryptoKeyPair).privateKey, publicKey, v);
      const stream = await maskStream(secret, pairContext(roundId, u, v), CHECK_WORDS);
      if (u < v) addMod32InPlace(masked, stream);
      else subtractMod32InPlace(masked, stream);
    }
  }
  await unmaskSum(masked, inputs);
  if (masked.some((w, i) => w !== plain[i]))
    throw new Error(
      `unmasking ${survivors.length} survivors did not give their plain sum: the generated shares are wrong`,
    );

  const sum = new Uint32Array(words);
  const start = performance.now();
  await unmaskSum(sum, { ...inputs, roster: { ...roster, vectorLength: words } });
  const unmaskMs = performance.now() - start;
  const streams =
    survivors.length + dropped.reduce((a, v) => a + graph.neighboursOf(v).filter((u) => alive.has(u)).length, 0);
  return { survivors: survivors.length, dropped: dropped.length, streams, unmaskMs };
}
