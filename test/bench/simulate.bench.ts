/**
 * Simulation speed: virtual client-rounds per second of `flock simulate` for
 * the FedAvg 2NN (E=1, B=10, 600 IID examples per client), on the main
 * thread, 1 worker thread and 2 worker threads, measured in one run. A
 * client-round is one client's check-in, global-weights download, local
 * training and upload through the in-process coordinator; round close and
 * test-set evaluation are included in the round time, as a user sees it.
 */
import { availableParallelism, loadavg } from 'node:os';
import { runSimulation, type SimulationOptions } from '../../simulate/run-simulation.ts';
import { median, type Benchmark, type BenchValue } from './bench-types.ts';

const BASE: SimulationOptions = {
  model: '2nn',
  clients: 10,
  fraction: 0.4,
  epochs: 1,
  batch: 10,
  lr: 0.1,
  partition: 'iid',
  alpha: 1,
  rounds: 3,
  target: 0.97,
  strategy: 'fedavg',
  encoding: 'fp32',
  topkFraction: 0.1,
  noiseMultiplier: 0,
  dropout: 0,
  stragglers: 0,
  seed: 1,
  workers: 1,
  evalExamples: 500,
  trainExamples: 6_000,
};

async function clientRoundsPerSecond(workers: number): Promise<{ rate: number; secondsPerRound: number }> {
  const result = await runSimulation({ ...BASE, workers });
  // Round 1 warms up tfjs kernels and the workers' weight caches; rounds 2..R are timed.
  const timed = result.history.slice(2);
  const secondsPerRound = median(timed.map((h) => h.seconds));
  return { rate: median(timed.map((h) => h.reports / h.seconds)), secondsPerRound };
}

const bench: Benchmark = {
  name: 'simulate',
  async run() {
    const main = await clientRoundsPerSecond(0);
    const one = await clientRoundsPerSecond(1);
    const two = await clientRoundsPerSecond(2);
    const row = (label: string, m: { rate: number; secondsPerRound: number }): Record<string, BenchValue> => ({
      setup: label,
      'client-rounds/s': m.rate,
      's/round (4 clients)': m.secondsPerRound,
      'ratio vs 1 worker': m.rate / one.rate,
    });
    return [
      {
        title: 'Simulation speed: 2NN client-rounds per second (E=1, B=10, 600 examples/client)',
        columns: ['setup', 'client-rounds/s', 's/round (4 clients)', 'ratio vs 1 worker'],
        rows: [row('main thread', main), row('1 worker thread', one), row('2 worker threads', two)],
        notes: [
          '10 clients of 600 examples, 4 per round, 3 rounds; median over rounds 2-3 of reports / round seconds (round 1 is warm-up).',
          `load average (1 min) at the end: ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores.`,
          'Round time includes check-in, weight download, training on tfjs wasm, upload, aggregation and a 500-example evaluation.',
          'The 2-worker ratio is bounded by the 2 cores of this machine, which other processes share.',
        ],
      },
    ];
  },
};

export default bench;
