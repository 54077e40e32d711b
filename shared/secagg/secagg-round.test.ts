/**
 * Whole rounds in memory: the unmasked sum equals the plain sum mod 2^32 of
 * the survivors' quantised updates, with devices dropping at each phase, on
 * the complete graph (SecAgg) and a sparse one (SecAgg+); and the round
 * aborts with a typed error, never a wrong sum, when it cannot be unmasked.
 */
import { describe, expect, it } from 'vitest';
import {
  DROP_PHASES,
  type DropChoice,
  type DropPhase,
  deviceIdAt,
  pickRandom,
  recoverableDrops,
  runInMemoryRound,
  testPrng as prng,
} from './in-memory-round.fixture.ts';
import type { NeighbourGraph } from './neighbour-graph.ts';
import { type SecAggParameters, safeThreshold } from './parameters.ts';
import { dequantiseSum, quantise } from './quantise.ts';
import type { SecAggServer } from './server.ts';

const N = 50;
const D = 64;
const Q = { clipRange: 0.1, bits: 20, maxDevices: N };
/** The complete graph over whoever advertised (plain SecAgg). */
const COMPLETE = (n: number): SecAggParameters => ({
  neighbours: n - 1,
  threshold: safeThreshold(n - 1, 0),
  colluders: 0,
});
const SPARSE: SecAggParameters = { neighbours: 12, threshold: 7, colluders: 0 };

function updates(seed: number): { floats: Float32Array[]; inputs: Uint32Array[] } {
  const rand = prng(seed);
  const floats = Array.from({ length: N }, () => Float32Array.from({ length: D }, () => (rand() - 0.5) * 0.25)); // some clip
  return { floats, inputs: floats.map((f) => quantise(f, Q)) };
}

function plainSum(inputs: readonly Uint32Array[], ids: readonly string[]): Uint32Array {
  const sum = new Uint32Array(D);
  for (const id of ids) {
    const x = inputs[Number(id.slice('device-'.length))];
    for (let i = 0; i < D; i++) sum[i] += x[i];
  }
  return sum;
}

async function expectExactSum(
  parameters: SecAggParameters | ((n: number) => SecAggParameters),
  phase: DropPhase,
  drops: DropChoice | null,
  seed: number,
) {
  const { floats, inputs } = updates(seed);
  const outcome = await runInMemoryRound({ inputs, parameters, drops: drops ? { [phase]: drops } : {} });
  expect(outcome.error).toBeNull();
  expect(outcome.refusals).toEqual(new Map());
  const survivors = outcome.aliveAt['masked-input'];
  expect(outcome.result?.survivors).toEqual(survivors);
  expect(outcome.result?.sum).toEqual(plainSum(inputs, survivors));
  // And the float view: within half a quantisation level per device of the clipped float sum.
  const total = dequantiseSum(outcome.result?.sum as Uint32Array, Q);
  for (let i = 0; i < D; i++) {
    let expected = 0;
    for (const id of survivors) expected += Math.max(-0.1, Math.min(0.1, floats[Number(id.slice(7))][i]));
    expect(Math.abs(total[i] - expected)).toBeLessThan((survivors.length * 0.1) / (2 ** 19 - 1));
  }
  return outcome;
}

describe.each([
  ['complete graph (SecAgg)', COMPLETE],
  ['sparse graph (SecAgg+, k = 12)', SPARSE],
] as const)('%s, n = 50', (_label, parameters) => {
  it('0% dropout: the unmasked sum is the plain sum mod 2^32', async () => {
    const outcome = await expectExactSum(parameters, 'advertise', null, 1);
    expect(outcome.result?.dropped).toEqual([]);
    expect(outcome.server.graph?.neighboursOf(deviceIdAt(0))).toHaveLength(
      outcome.server.roster?.parameters.neighbours as number,
    );
    expect(outcome.server.roster?.parameters.neighbours).toBe(typeof parameters === 'function' ? N - 1 : 12);
  }, 60_000);

  for (const rate of [0.1, 0.3]) {
    it.each(DROP_PHASES.map((p, i) => [p, i] as const))(
      `${rate * 100}% drop at %s`,
      async (phase, i) => {
        const count = Math.round(rate * N);
        const seed = 100 + i + rate * 10;
        const drops: DropChoice =
          phase === 'advertise'
            ? new Set(
                pickRandom(
                  Array.from({ length: N }, (_, j) => deviceIdAt(j)),
                  count,
                  prng(seed),
                ),
              )
            : (server, alive) => {
                const chosen = recoverableDrops(count, seed)(server, alive);
                expect(chosen.size).toBe(count);
                return chosen;
              };
        const outcome = await expectExactSum(parameters, phase, drops, seed);
        if (phase === 'masked-input') expect(outcome.result?.dropped.length).toBe(count); // their pairwise masks were removed
        if (phase === 'unmask') expect(outcome.result?.survivors.length).toBe(N); // non-responders' inputs still count
      },
      60_000,
    );
  }
});

describe('positive control: the sum check can fail', () => {
  it('a device that skips its self mask leaves the unmasked sum different from the plain sum', async () => {
    const { inputs } = updates(3);
    const cheat = deviceIdAt(4);
    const outcome = await runInMemoryRound({
      inputs: inputs.slice(0, 10),
      parameters: COMPLETE,
      policyOf: (id) => (id === cheat ? { insecureSkipSelfMask: true } : {}),
    });
    expect(outcome.error).toBeNull();
    expect(outcome.result?.survivors).toHaveLength(10);
    const plain = plainSum(inputs, outcome.result?.survivors ?? []);
    const differing = (outcome.result?.sum ?? new Uint32Array(D)).filter((x, i) => x !== plain[i]).length;
    expect(differing).toBeGreaterThan(D - 3); // the server removed a self mask that was never added
  }, 60_000);
});

describe('rounds that cannot be unmasked abort with a typed error', () => {
  it('random 10% / 30% drops before masking on k = 12: a sum exactly when every secret has t live holders, else too-few-neighbours', async () => {
    const seen = { ok: 0, aborted: 0 };
    for (const [rate, seed] of [
      [0.1, 7],
      [0.3, 8],
      [0.3, 9],
    ] as const) {
      const { inputs } = updates(seed);
      const drops = (_server: SecAggServer, alive: readonly string[]) =>
        new Set(pickRandom(alive, Math.round(rate * N), prng(seed)));
      const outcome = await runInMemoryRound({ inputs, parameters: SPARSE, drops: { 'masked-input': drops } });
      // The oracle, from the public graph alone: each survivor and each dropped device needs t surviving neighbours.
      const graph = outcome.server.graph as NeighbourGraph;
      const survivors = new Set(outcome.aliveAt['masked-input']);
      const recoverable = graph.ids.every(
        (x) => graph.neighboursOf(x).filter((y) => survivors.has(y)).length >= SPARSE.threshold,
      );
      if (recoverable) {
        seen.ok++;
        expect(outcome.result?.sum).toEqual(plainSum(inputs, [...survivors]));
      } else {
        seen.aborted++;
        expect(outcome.result).toBeNull();
        expect(outcome.error?.code).toBe('too-few-neighbours');
        expect(outcome.server.phase).toBe('aborted');
        const id = outcome.error?.details.deviceId as string;
        expect(graph.neighboursOf(id).filter((y) => survivors.has(y)).length).toBeLessThan(SPARSE.threshold);
      }
    }
    expect(seen.ok + seen.aborted).toBe(3);
  }, 120_000);

  it('a survivor whose neighbours do not answer: too-few-neighbours naming it, no sum', async () => {
    const { inputs } = updates(3);
    let target = '';
    const drops = (server: SecAggServer) => {
      const graph = server.graph as NeighbourGraph;
      target = graph.ids[0];
      return new Set(graph.neighboursOf(target).slice(0, SPARSE.neighbours - SPARSE.threshold + 1)); // 6 of 12 stay silent
    };
    const outcome = await runInMemoryRound({ inputs, parameters: SPARSE, drops: { unmask: drops } });
    expect(outcome.result).toBeNull();
    expect(outcome.error?.code).toBe('too-few-neighbours');
    expect(outcome.error?.details).toMatchObject({ live: SPARSE.threshold - 1, threshold: SPARSE.threshold });
    expect(outcome.error?.details.deviceId).toBe(target);
  }, 60_000);

  it('devices left with fewer than t sharing neighbours refuse to mask; the server then aborts', async () => {
    const inputs = Array.from({ length: 5 }, (_, i) => new Uint32Array(D).fill(i));
    const outcome = await runInMemoryRound({
      inputs,
      parameters: { neighbours: 4, threshold: 3, colluders: 0 },
      drops: { 'share-keys': new Set([deviceIdAt(0), deviceIdAt(1)]) },
    });
    expect([...outcome.refusals.values()]).toEqual(['too-few-neighbours', 'too-few-neighbours', 'too-few-neighbours']);
    expect(outcome.error?.code).toBe('too-few-survivors');
    expect(outcome.result).toBeNull();
  }, 60_000);

  it('fewer survivors than the threshold: too-few-survivors before anyone reveals a share', async () => {
    const { inputs } = updates(4);
    const ids = Array.from({ length: N }, (_, j) => deviceIdAt(j));
    const outcome = await runInMemoryRound({
      inputs,
      parameters: COMPLETE,
      drops: { 'masked-input': new Set(ids.slice(0, N - 24)) },
    });
    expect(outcome.error?.code).toBe('too-few-survivors');
    expect(outcome.aliveAt.unmask).toBeUndefined(); // no unmask request went out
  }, 60_000);
});
