/**
 * Codec throughput: encode + decode of a 1M-parameter model update per
 * encoding, against a plain `new Float32Array(src)` copy of the same floats
 * measured in the same run (the ratio is what to read; the machine is noisy).
 * MB/s counts fp32-equivalent bytes (4 MB per round trip), so encodings are
 * compared on the work they do for the same update, not on their output size.
 */
import { decodeTensors, encodeTensors, type NamedTensor, type TensorEncodingSpec } from '../../shared/codec/index.ts';
import { median, timeRepeated, type Benchmark, type BenchTable } from './bench-types.ts';

/** A 784-1000-200-74 MLP's update: 1,000,000 floats. */
const SHAPES: Array<[string, number[]]> = [
  ['dense1/kernel', [784, 1000]],
  ['dense1/bias', [1000]],
  ['dense2/kernel', [1000, 200]],
  ['dense2/bias', [200]],
  ['dense3/kernel', [200, 74]],
];

/** Deterministic roughly-normal values (sum of uniforms), scale 0.01 like a real SGD delta. */
function makeUpdate(): NamedTensor[] {
  let s = 0x9e3779b9;
  const rand = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return SHAPES.map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (rand() + rand() + rand() - 1.5) * 0.01;
    return { name, shape, data };
  });
}

const CASES: Array<[string, TensorEncodingSpec]> = [
  ['fp32', { encoding: 'fp32' }],
  ['fp16', { encoding: 'fp16' }],
  ['int8 per-channel', { encoding: 'int8' }],
  ['topk 10% fp32', { encoding: 'topk', topkFraction: 0.1, topkValues: 'fp32' }],
  ['topk 1% int8', { encoding: 'topk', topkFraction: 0.01, topkValues: 'int8' }],
];

const benchmark: Benchmark = {
  name: 'codec',
  async run(): Promise<BenchTable[]> {
    const update = makeUpdate();
    const floats = update.reduce((a, t) => a + t.data.length, 0);
    const mb = (floats * 4) / 1e6;
    const repeats = { repeats: 9, warmup: 2 };
    const copyMs = median(await timeRepeated(() => update.map((t) => new Float32Array(t.data)), repeats));
    const fp32Bytes = encodeTensors(update, { encoding: 'fp32' }).length;
    const rows: BenchTable['rows'] = [
      {
        encoding: 'baseline: Float32Array copy',
        'encode+decode ms': copyMs,
        'MB/s': mb / (copyMs / 1000),
        ratio: 1,
        'encode ms': null,
        'decode ms': null,
        'bytes/fp32': 1,
        'max abs error': 0,
      },
    ];
    for (const [label, spec] of CASES) {
      let bytes = encodeTensors(update, spec);
      const roundMs = median(await timeRepeated(() => decodeTensors(encodeTensors(update, spec)), repeats));
      const encMs = median(await timeRepeated(() => (bytes = encodeTensors(update, spec)), repeats));
      const decMs = median(await timeRepeated(() => decodeTensors(bytes), repeats));
      const decoded = decodeTensors(bytes);
      let maxErr = 0;
      decoded.forEach((t, i) => t.data.forEach((x, j) => (maxErr = Math.max(maxErr, Math.abs(x - update[i].data[j])))));
      rows.push({
        encoding: label,
        'encode+decode ms': roundMs,
        'MB/s': mb / (roundMs / 1000),
        ratio: copyMs / roundMs,
        'encode ms': encMs,
        'decode ms': decMs,
        'bytes/fp32': bytes.length / fp32Bytes,
        'max abs error': maxErr,
      });
    }
    return [
      {
        title: `encode+decode of a ${floats.toLocaleString('en')}-parameter update (${SHAPES.map(([, s]) => `[${s.join(',')}]`).join(' + ')})`,
        columns: [
          'encoding',
          'encode+decode ms',
          'MB/s',
          'ratio',
          'encode ms',
          'decode ms',
          'bytes/fp32',
          'max abs error',
        ],
        rows,
        notes: [
          'median of 9 runs after 2 warm-ups; MB/s counts 4 bytes per parameter (fp32-equivalent)',
          "ratio = baseline copy time / this row's encode+decode time (1 = as fast as copying the floats once)",
          'bytes/fp32 = container size / fp32 container size; values ~N(0, 0.01^2), so max abs error is absolute on that scale',
          'topk max abs error includes the dropped entries (error feedback carries them to the next round)',
          'includes CRC-32C over the container on encode and decode; fp32 decode returns zero-copy views',
        ],
      },
    ];
  },
};

export default benchmark;
