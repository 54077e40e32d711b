/**
 * Secure aggregation (shared/secagg) at d = 200,000 parameters, against plain
 * FedAvg, all in one run. Real WebCrypto, real (JSON) messages.
 *
 * Setups: n = 10 and 100 on the complete graph (SecAgg) and on the SecAgg+
 * graph planSecAgg picks for 10% dropout (raised to 2 ceil(log2 n)
 * neighbours at least); n = 1,000 on SecAgg+ only (the complete graph needs
 * k = 999 shares per secret; Shamir's one-byte share index allows 255, so a
 * device refuses it).
 *
 * - Table 1, device cost per phase at 0% dropout. n <= 100: every device of
 *   a whole in-memory round; n = 1,000: a sample of devices (see
 *   secagg-sampled-round.ts). Beside them, plain FedAvg's upload: the codec's
 *   fp32 and int8 encodings of the same update, and quantise() alone.
 * - Table 2, server fold + unmask at 0 / 10 / 30% of devices dropping after
 *   sharing keys (the costly case: their pairwise masks must be rebuilt).
 *   n <= 100: whole rounds through SecAggServer. n = 1,000 (and n = 100 again,
 *   as a cross-check of the method): the same unmaskSum over generated shares
 *   (secagg-server-unmask.ts). Beside them, the coordinator's FedAvg
 *   accumulator folding the same number of float updates, and a plain
 *   Float32Array sum.
 * - Table 3, Node against Chromium: the sampled driver, the same code bundled
 *   into a page, setup by setup in the same run.
 *
 * FLOCK_BENCH_SECAGG_MAX_N=100 leaves out n = 1,000; FLOCK_BENCH_SECAGG_BROWSER=0
 * leaves out Chromium.
 */
import { join } from 'node:path';
import { recoverableDrops, runInMemoryRound, testPrng } from '../../shared/secagg/in-memory-round.fixture.ts';
import { planSecAgg, type SecAggParameters, safeThreshold } from '../../shared/secagg/parameters.ts';
import { quantise } from '../../shared/secagg/quantise.ts';
import { openBundledPage } from '../browser/bundled-page.ts';
import { median, timeRepeated, type Benchmark, type BenchTable } from './bench-types.ts';
import { fedAvgFoldMs, plainUploads } from './secagg-fedavg-baseline.ts';
import { runSampledRound, type SampledRound } from './secagg-sampled-round.ts';
import { makeCohort, recoverableDropouts, timeUnmask } from './secagg-server-unmask.ts';

declare const SecAggBench: typeof import('./secagg-page-entry.ts');

const D = 200_000;
const Q = { clipRange: 0.05, bits: 16, maxDevices: 1000 };
const RATES = [0, 0.1, 0.3];
const MAX_N = Number(process.env.FLOCK_BENCH_SECAGG_MAX_N ?? 1000);
const BROWSER = process.env.FLOCK_BENCH_SECAGG_BROWSER !== '0';
/** Devices timed per setup where the round is sampled. */
const SAMPLE_NODE = 8;
const SAMPLE_SIDE_BY_SIDE = 4;
const INPUT_SEED = 0x5eca99;

const complete = (n: number): SecAggParameters => ({
  neighbours: n - 1,
  threshold: safeThreshold(n - 1, 0),
  colluders: 0,
});
/** planSecAgg at 10% dropout; where that is the complete graph (n = 10), the sparsest graph a device accepts. */
const sparse = (n: number): SecAggParameters => {
  const plan = planSecAgg(n, { dropoutFraction: 0.1 });
  const k = plan.neighbours === n - 1 ? Math.min(n - 2, 2 * Math.ceil(Math.log2(n))) : plan.neighbours;
  return { neighbours: k, threshold: safeThreshold(k, 0), colluders: 0 };
};

type Graph = 'SecAgg (complete)' | 'SecAgg+ (sparse)';
const parametersOf = (graph: Graph, n: number) => (graph === 'SecAgg+ (sparse)' ? sparse(n) : complete(n));
const WHOLE: Array<{ graph: Graph; n: number }> = [
  { graph: 'SecAgg (complete)', n: 10 },
  { graph: 'SecAgg+ (sparse)', n: 10 },
  { graph: 'SecAgg (complete)', n: 100 },
  { graph: 'SecAgg+ (sparse)', n: 100 },
];
const SIDE_BY_SIDE: Array<{ graph: Graph; n: number }> = [
  { graph: 'SecAgg (complete)', n: 10 },
  { graph: 'SecAgg+ (sparse)', n: 100 },
  { graph: 'SecAgg (complete)', n: 100 },
  ...(MAX_N >= 1000 ? [{ graph: 'SecAgg+ (sparse)' as Graph, n: 1000 }] : []),
];

function floats(n: number): Float32Array[] {
  const rand = testPrng(INPUT_SEED);
  return Array.from({ length: n }, () =>
    Float32Array.from({ length: D }, () => (rand() + rand() + rand() - 1.5) * 0.01),
  );
}

function plainSumMs(vectors: readonly Float32Array[], count: number): Promise<number[]> {
  return timeRepeated(
    () => {
      const sum = new Float32Array(D);
      for (let c = 0; c < count; c++) {
        const u = vectors[c % vectors.length];
        for (let i = 0; i < D; i++) sum[i] += u[i];
      }
      return sum;
    },
    { repeats: 3, warmup: 1 },
  );
}

/** The sampled driver in Chromium, on the page's own copy of the same input. */
async function sampledInChromium(
  page: import('playwright-core').Page,
  o: { roundId: string; n: number; parameters: SecAggParameters; sample: number },
): Promise<SampledRound> {
  return page.evaluate(
    async ({ o, D, Q, seed }) => {
      const rand = SecAggBench.testPrng(seed);
      const update = Float32Array.from({ length: D }, () => (rand() + rand() + rand() - 1.5) * 0.01);
      return SecAggBench.runSampledRound({ ...o, input: SecAggBench.quantise(update, Q) });
    },
    { o, D, Q, seed: INPUT_SEED },
  );
}

const benchmark: Benchmark = {
  name: 'secagg',
  async run(): Promise<BenchTable[]> {
    const updates = floats(100);
    const inputs = updates.map((u) => quantise(u, Q));
    const quantiseMs = median(await timeRepeated(() => quantise(updates[0], Q), { repeats: 7, warmup: 2 }));
    const deviceRows: BenchTable['rows'] = [];
    const baseline = (setup: string, ms: number, bytes: number) =>
      deviceRows.push({
        setup,
        n: null,
        k: null,
        t: null,
        'devices timed': 1,
        phase: 'upload',
        'mask streams': 0,
        'device ms': ms,
        'ratio vs quantise': ms / quantiseMs,
        'sent bytes': bytes,
        'received bytes': 0,
      });
    baseline(`quantise only (${Q.bits}-bit words)`, quantiseMs, 4 * D);
    for (const u of await plainUploads(updates[0])) baseline(`plain FedAvg upload, ${u.encoding}`, u.encodeMs, u.bytes);

    const serverRows: BenchTable['rows'] = [];
    const foldCache = new Map<number, number>();
    const fedAvgMs = async (count: number) => {
      if (!foldCache.has(count)) foldCache.set(count, await fedAvgFoldMs(updates.slice(0, 4), count));
      return foldCache.get(count) as number;
    };
    const serverRow = async (
      row: { setup: string; how: string; n: number; k: number; t: number; rate: number },
      r: { survivors: number; dropped: number; streams: number; foldMs: number | null; unmaskMs: number },
    ) => {
      const fedAvg = await fedAvgMs(r.survivors);
      const plain = median(await plainSumMs(updates.slice(0, 4), r.survivors));
      serverRows.push({
        setup: row.setup,
        how: row.how,
        n: row.n,
        k: row.k,
        t: row.t,
        dropout: `${row.rate * 100}%`,
        dropped: r.dropped,
        'mask streams': r.streams,
        'fold ms': r.foldMs,
        'unmask ms': r.unmaskMs,
        'unmask ms per stream': r.unmaskMs / r.streams,
        'FedAvg accumulator ms': fedAvg,
        'plain f32 sum ms': plain,
        'ratio (fold+unmask)/FedAvg': ((r.foldMs ?? 0) + r.unmaskMs) / fedAvg,
      });
    };

    // One unrecorded round first, so JIT warm-up is not charged to the first setup.
    await runInMemoryRound({ roundId: 'bench-warmup', inputs: inputs.slice(0, 10), parameters: complete });
    for (const { graph, n } of WHOLE) {
      for (const rate of RATES) {
        const count = Math.round(rate * n);
        const outcome = await runInMemoryRound({
          roundId: `bench-${n}-${rate}`,
          inputs: inputs.slice(0, n),
          parameters: (cohort) => parametersOf(graph, cohort),
          drops: count ? { 'masked-input': recoverableDrops(count, 17) } : {},
        });
        if (!outcome.result) throw new Error(`${graph} n=${n} at ${rate * 100}% failed: ${outcome.error?.message}`);
        const { neighbours: k, threshold: t } = outcome.server.roster?.parameters as SecAggParameters;
        const survivors = outcome.result.survivors;
        // The round's own check: the unmasked sum is the survivors' plain sum mod 2^32.
        const expected = new Uint32Array(D);
        for (const id of survivors) {
          const x = inputs[Number(id.slice('device-'.length))];
          for (let i = 0; i < D; i++) expected[i] = (expected[i] + x[i]) >>> 0;
        }
        if (outcome.result.sum.some((w, i) => w !== expected[i]))
          throw new Error(`${graph} n=${n} at ${rate * 100}%: the unmasked sum is not the survivors' sum`);
        if (rate === 0) {
          for (const [phase, cost] of Object.entries(outcome.costs)) {
            deviceRows.push({
              setup: graph,
              n,
              k,
              t,
              'devices timed': n,
              phase,
              'mask streams': phase === 'masked-input' ? k + 1 : 0,
              'device ms': cost.medianMs,
              'ratio vs quantise': cost.medianMs / quantiseMs,
              'sent bytes': cost.sentBytes,
              'received bytes': cost.receivedBytes,
            });
          }
        }
        const alive = new Set(survivors);
        const g = outcome.server.graph;
        const streams =
          survivors.length +
          outcome.result.dropped.reduce((a, v) => a + (g?.neighboursOf(v).filter((u) => alive.has(u)).length ?? 0), 0);
        await serverRow(
          { setup: graph, how: 'whole round', n, k, t, rate },
          {
            survivors: survivors.length,
            dropped: outcome.result.dropped.length,
            streams,
            foldMs: outcome.serverFoldMs,
            unmaskMs: outcome.serverUnmaskMs,
          },
        );
      }
    }

    // Generated shares: n = 100 beside its whole rounds (the method's cross-check), then n = 1,000.
    for (const n of [100, ...(MAX_N >= 1000 ? [1000] : [])]) {
      const parameters = sparse(n);
      const cohort = await makeCohort(`bench-cohort-${n}`, n, parameters);
      for (const rate of RATES) {
        const dropped = recoverableDropouts(cohort, Math.round(rate * n), 17);
        const timing = await timeUnmask(cohort, dropped, D);
        const survivorInputs = inputs.slice(0, 4);
        const foldStart = performance.now();
        const sum = new Uint32Array(D);
        for (let c = 0; c < timing.survivors; c++) {
          const x = survivorInputs[c % survivorInputs.length];
          for (let i = 0; i < D; i++) sum[i] = (sum[i] + x[i]) >>> 0;
        }
        const foldMs = n >= 1000 ? performance.now() - foldStart : null;
        await serverRow(
          {
            setup: 'SecAgg+ (sparse)',
            how: 'generated shares',
            n,
            k: parameters.neighbours,
            t: parameters.threshold,
            rate,
          },
          { ...timing, foldMs },
        );
      }
    }

    // n = 1,000 devices: a sample, in Node (table 1); table 3 repeats the sampled driver beside Chromium.
    if (MAX_N >= 1000) {
      const parameters = sparse(1000);
      const sampled = await runSampledRound({
        roundId: 'bench-sampled-1000',
        n: 1000,
        parameters,
        sample: SAMPLE_NODE,
        input: inputs[0],
      });
      for (const cost of sampled.costs) {
        deviceRows.push({
          setup: 'SecAgg+ (sparse)',
          n: 1000,
          k: sampled.neighbours,
          t: sampled.threshold,
          'devices timed': cost.devices,
          phase: cost.phase,
          'mask streams': cost.phase === 'masked-input' ? sampled.neighbours + 1 : 0,
          'device ms': cost.medianMs,
          'ratio vs quantise': cost.medianMs / quantiseMs,
          'sent bytes': cost.sentBytes,
          'received bytes': cost.receivedBytes,
        });
      }
    }

    const browserRows: BenchTable['rows'] = [];
    if (BROWSER) {
      const opened = await openBundledPage({
        entry: join(import.meta.dirname, 'secagg-page-entry.ts'),
        globalName: 'SecAggBench',
      });
      try {
        for (const { graph, n } of SIDE_BY_SIDE) {
          const o = {
            roundId: `bench-side-${n}-${graph.length}`,
            n,
            parameters: parametersOf(graph, n),
            sample: SAMPLE_SIDE_BY_SIDE,
          };
          const node = await runSampledRound({ ...o, input: inputs[0] });
          const chromium = await sampledInChromium(opened.page, o);
          for (let p = 0; p < node.costs.length; p++) {
            const [a, b] = [node.costs[p], chromium.costs[p]];
            if (a.sentBytes !== b.sentBytes)
              throw new Error(`${graph} n=${n} ${a.phase}: Chromium sent ${b.sentBytes} bytes, Node ${a.sentBytes}`);
            browserRows.push({
              setup: graph,
              n,
              k: node.neighbours,
              phase: a.phase,
              'devices timed': a.devices,
              'mask streams': a.phase === 'masked-input' ? node.neighbours + 1 : 0,
              'Node ms': a.medianMs,
              'Chromium ms': b.medianMs,
              'ratio Chromium/Node': b.medianMs / a.medianMs,
              'sent bytes': a.sentBytes,
            });
          }
        }
      } finally {
        await opened.close();
      }
    }

    const tables: BenchTable[] = [
      {
        title: `SecAgg device cost per phase, d = ${D.toLocaleString('en')}, 0% dropout, Node, against a plain FedAvg upload`,
        columns: [
          'setup',
          'n',
          'k',
          't',
          'devices timed',
          'phase',
          'mask streams',
          'device ms',
          'ratio vs quantise',
          'sent bytes',
          'received bytes',
        ],
        rows: deviceRows,
        notes: [
          "device ms: median over the devices timed of the device's own compute (keys; roster check, graph, Shamir split, sealing; opening shares, k + 1 AES-CTR mask streams of 4d bytes and their mod 2^32 sums; answering), not network",
          'bytes: JSON text of each message; masked-input adds 4 bytes per parameter (uint32 body). The plain uploads are the codec container of the same update (one tensor)',
          `n <= 100: every device of a whole round. n = 1,000: every device advertises; the ${SAMPLE_NODE} sampled devices and their neighbours share keys; the sampled devices mask and unmask. A device's work depends on n, k and d only, so no figure is multiplied: each is a measured device`,
          "n = 1,000 on the complete graph is not a row: k = 999 exceeds the 255 shares Shamir's one-byte index allows, and devices refuse such a roster. Its masking would be 1,000 mask streams per device",
          `quantise: ${Q.bits}-bit words of the same update (the floor of any integer aggregation); plain FedAvg upload: encodeTensors fp32 / int8 of it`,
        ],
      },
      {
        title: `SecAgg server: fold + unmask, d = ${D.toLocaleString('en')}, devices dropping after sharing keys, against FedAvg aggregation`,
        columns: [
          'setup',
          'how',
          'n',
          'k',
          't',
          'dropout',
          'dropped',
          'mask streams',
          'fold ms',
          'unmask ms',
          'unmask ms per stream',
          'FedAvg accumulator ms',
          'plain f32 sum ms',
          'ratio (fold+unmask)/FedAvg',
        ],
        rows: serverRows,
        notes: [
          "whole round: SecAggServer over real devices' messages; fold = adding every masked uint32 vector into the running sum mod 2^32, unmask = finish(); the unmasked sum is checked against the survivors' plain sum",
          "generated shares: unmaskSum (what finish() runs) over real keys, seeds and Shamir shares made as devices make them, on a zero sum of d words; a 64-word masked sum is unmasked first and checked. fold (n = 1,000): the same mod 2^32 adds over the survivors' words. n = 100 repeats the whole rounds' SecAgg+ rows this way, to show the method gives the same time",
          "FedAvg accumulator: the coordinator's createAccumulator folding as many float updates as there were survivors, then mean(), on the backend the coordinator picks; plain f32 sum: a Float32Array loop over the same count",
          'dropouts drawn at random (seeded) among devices whose loss leaves every device at least t live neighbours',
          'mask streams: AES-CTR streams of 4d bytes the server generates (survivors + dropped-survivor pairs), the figure that does not depend on the load; the ms do',
        ],
      },
    ];
    if (BROWSER) {
      tables.push({
        title: `SecAgg device cost per phase, Node against Chromium (same code, bundled), d = ${D.toLocaleString('en')}, 0% dropout`,
        columns: [
          'setup',
          'n',
          'k',
          'phase',
          'devices timed',
          'mask streams',
          'Node ms',
          'Chromium ms',
          'ratio Chromium/Node',
          'sent bytes',
        ],
        rows: browserRows,
        notes: [
          `sampled rounds on both sides (secagg-sampled-round.ts, ${SAMPLE_SIDE_BY_SIDE} devices mask and unmask; they and their neighbours share keys; advertise is every device), one setup after the other in Node then in one Chromium page, so both see the same load`,
          'headless Chromium 2 cores shared with Node; WebCrypto in both. Chromium sent the same bytes as Node in every phase (checked); pages without cross-origin isolation get a 100 us clock, so sub-millisecond rows (advertise, unmask) are clock steps, not costs',
        ],
      });
    }
    return tables;
  },
};

export default benchmark;
