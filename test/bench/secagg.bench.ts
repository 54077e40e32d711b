/**
 * Secure aggregation (shared/secagg) at d = 200,000 parameters: one whole
 * round in memory per setup, real WebCrypto, real (JSON) messages. Setups:
 * n = 10 and 100 on the complete graph (SecAgg) and on the SecAgg+ graph
 * planSecAgg picks for 10% dropout (raised to 2 ceil(log2 n) neighbours at
 * least). Table 1: one device's median time and bytes per phase, no dropout,
 * next to quantising the same update (the floor of any integer aggregation).
 * Table 2: the server's folding and unmasking time at 0 / 10 / 30% of devices
 * dropping after sharing keys (the costly case: their pairwise masks must be
 * rebuilt), next to a plain Float32 sum of the same survivors' vectors in the
 * same run. Dropouts are drawn so every secret stays recoverable.
 */
import { recoverableDrops, runInMemoryRound, testPrng } from '../../shared/secagg/in-memory-round.fixture.ts';
import { planSecAgg, type SecAggParameters, safeThreshold } from '../../shared/secagg/parameters.ts';
import { quantise } from '../../shared/secagg/quantise.ts';
import { median, timeRepeated, type Benchmark, type BenchTable } from './bench-types.ts';

const D = 200_000;
const Q = { clipRange: 0.05, bits: 16, maxDevices: 1000 };

interface Setup {
  label: string;
  n: number;
  parameters: (n: number) => SecAggParameters;
}

const complete = (n: number): SecAggParameters => ({
  neighbours: n - 1,
  threshold: safeThreshold(n - 1, 0),
  colluders: 0,
});
const sparse = (cohort: number) => {
  const plan = planSecAgg(cohort, { dropoutFraction: 0.1 });
  // For n = 10 the plan is the complete graph; take the sparsest graph a device accepts instead.
  const k = plan.neighbours === cohort - 1 ? Math.min(cohort - 2, 2 * Math.ceil(Math.log2(cohort))) : plan.neighbours;
  return (n: number): SecAggParameters =>
    n - 1 > k ? { neighbours: k, threshold: safeThreshold(k, 0), colluders: 0 } : complete(n);
};

const SETUPS: Setup[] = [
  { label: 'SecAgg (complete)', n: 10, parameters: complete },
  { label: 'SecAgg+ (sparse)', n: 10, parameters: sparse(10) },
  { label: 'SecAgg (complete)', n: 100, parameters: complete },
  { label: 'SecAgg+ (sparse)', n: 100, parameters: sparse(100) },
];

function floats(n: number): Float32Array[] {
  const rand = testPrng(0x5eca99);
  return Array.from({ length: n }, () =>
    Float32Array.from({ length: D }, () => (rand() + rand() + rand() - 1.5) * 0.01),
  );
}

const benchmark: Benchmark = {
  name: 'secagg',
  async run(): Promise<BenchTable[]> {
    const updates = floats(100);
    const inputs = updates.map((u) => quantise(u, Q));
    const quantiseMs = median(await timeRepeated(() => quantise(updates[0], Q), { repeats: 7, warmup: 2 }));
    const deviceRows: BenchTable['rows'] = [
      {
        setup: 'baseline: quantise only, plain upload',
        n: null,
        k: null,
        t: null,
        phase: 'masked-input',
        'mask streams': 0,
        'device ms': quantiseMs,
        'sent bytes': 4 * D,
        'received bytes': 0,
        'ratio vs quantise': 1,
      },
    ];
    const serverRows: BenchTable['rows'] = [];
    // One unrecorded round first, so JIT warm-up is not charged to the first setup.
    await runInMemoryRound({ roundId: 'bench-warmup', inputs: inputs.slice(0, 10), parameters: complete });
    for (const setup of SETUPS) {
      for (const rate of [0, 0.1, 0.3]) {
        const count = Math.round(rate * setup.n);
        const outcome = await runInMemoryRound({
          roundId: `bench-${setup.n}-${rate}`,
          inputs: inputs.slice(0, setup.n),
          parameters: setup.parameters,
          drops: count ? { 'masked-input': recoverableDrops(count, 17) } : {},
        });
        if (!outcome.result)
          throw new Error(`${setup.label} n=${setup.n} at ${rate * 100}% failed: ${outcome.error?.message}`);
        const { neighbours: k, threshold: t } = outcome.server.roster?.parameters as SecAggParameters;
        if (rate === 0) {
          for (const [phase, cost] of Object.entries(outcome.costs)) {
            deviceRows.push({
              setup: setup.label,
              n: setup.n,
              k,
              t,
              phase,
              'mask streams': phase === 'masked-input' ? k + 1 : 0,
              'device ms': cost.medianMs,
              'sent bytes': cost.sentBytes,
              'received bytes': cost.receivedBytes,
              'ratio vs quantise': cost.medianMs / quantiseMs,
            });
          }
        }
        const survivorIds = outcome.result.survivors;
        const graph = outcome.server.graph;
        const alive = new Set(survivorIds);
        // Self masks of survivors + one pairwise mask per (dropped, surviving neighbour): load-independent work.
        const streams =
          survivorIds.length +
          outcome.result.dropped.reduce(
            (a, v) => a + (graph?.neighboursOf(v).filter((u) => alive.has(u)).length ?? 0),
            0,
          );
        const survivorFloats = survivorIds.map((id) => updates[Number(id.slice('device-'.length))]);
        const plainMs = median(
          await timeRepeated(
            () => {
              const sum = new Float32Array(D);
              for (const u of survivorFloats) for (let i = 0; i < D; i++) sum[i] += u[i];
              return sum;
            },
            { repeats: 5, warmup: 1 },
          ),
        );
        serverRows.push({
          setup: setup.label,
          n: setup.n,
          k,
          t,
          dropout: `${rate * 100}%`,
          dropped: outcome.result.dropped.length,
          'mask streams': streams,
          'fold ms': outcome.serverFoldMs,
          'unmask ms': outcome.serverUnmaskMs,
          'plain f32 sum ms': plainMs,
          'ratio (fold+unmask)/plain': (outcome.serverFoldMs + outcome.serverUnmaskMs) / plainMs,
        });
      }
    }
    return [
      {
        title: `SecAgg device cost per phase, d = ${D.toLocaleString('en')} (median over devices, 0% dropout)`,
        columns: [
          'setup',
          'n',
          'k',
          't',
          'phase',
          'mask streams',
          'device ms',
          'ratio vs quantise',
          'sent bytes',
          'received bytes',
        ],
        rows: deviceRows,
        notes: [
          "device ms: the device's own compute (key generation; roster check, graph, Shamir split, sealing; opening shares, k + 1 AES-CTR mask streams of 4d bytes and their mod 2^32 sums; answering), not network",
          'bytes: JSON text of each message; masked-input adds 4 bytes per parameter (uint32 body)',
          'mask streams: AES-CTR streams of 4d bytes the device generates and adds (k + 1); the figure that does not depend on the load',
          `baseline: quantise() of the same update (${Q.bits}-bit), whose output a plain integer upload would send`,
        ],
      },
      {
        title: `SecAgg server: fold + unmask, d = ${D.toLocaleString('en')}, devices dropping after sharing keys`,
        columns: [
          'setup',
          'n',
          'k',
          't',
          'dropout',
          'dropped',
          'mask streams',
          'fold ms',
          'unmask ms',
          'plain f32 sum ms',
          'ratio (fold+unmask)/plain',
        ],
        rows: serverRows,
        notes: [
          'fold: adding every masked uint32 vector into the running sum mod 2^32; unmask: finish() (Shamir combine, self masks of survivors, pairwise masks of dropped devices with their surviving neighbours)',
          "plain f32 sum: a Float32Array loop over the same survivors' float updates, measured in the same run (median of 5)",
          'dropouts drawn at random among devices whose loss leaves every secret recoverable (seeded)',
          'mask streams: AES-CTR streams of 4d bytes the server generates (survivors + dropped-survivor pairs), the figure that does not depend on the load; the ms do',
        ],
      },
    ];
  },
};

export default benchmark;
