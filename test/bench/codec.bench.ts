/**
 * Codec throughput: encode + decode of a 1M-parameter model update per
 * encoding, against a plain `new Float32Array(src)` copy of the same floats
 * measured in the same run (the ratio is what to read; the machine is noisy).
 * MB/s counts fp32-equivalent bytes (4 MB per round trip), so encodings are
 * compared on the work they do for the same update, not on their output size.
 * Decoding is timed twice, with the portable JavaScript CRC-32C (what a
 * browser runs) and with the coordinator's (`hostCrc32c`, the CPU
 * instruction); a second table times the checksums alone, with the
 * byte-loading slicing-by-8 the codec used before issue 15 as their baseline.
 */
import { hostCrc32c, hostCrc32cKind } from '../../coordinator/http/native-crc32c.ts';
import {
  crc32c,
  decodeTensors,
  encodeTensors,
  type NamedTensor,
  type TensorEncodingSpec,
} from '../../shared/codec/index.ts';
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

/** The codec's CRC-32C before issue 15 (slicing-by-8, byte loads), kept as the checksum table's baseline. */
const BYTE_TABLES = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++)
    for (let s = 1; s < 8; s++) t[s][n] = (t[0][t[s - 1][n] & 0xff] ^ (t[s - 1][n] >>> 8)) >>> 0;
  return t;
})();
function crc32cSlicing8Bytes(bytes: Uint8Array): number {
  const [T0, T1, T2, T3, T4, T5, T6, T7] = BYTE_TABLES;
  let crc = 0xffffffff;
  let i = 0;
  const end8 = bytes.length - (bytes.length % 8);
  while (i < end8) {
    const lo = crc ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    crc =
      T7[lo & 0xff] ^
      T6[(lo >>> 8) & 0xff] ^
      T5[(lo >>> 16) & 0xff] ^
      T4[lo >>> 24] ^
      T3[bytes[i + 4]] ^
      T2[bytes[i + 5]] ^
      T1[bytes[i + 6]] ^
      T0[bytes[i + 7]];
    i += 8;
  }
  while (i < bytes.length) crc = T0[(crc ^ bytes[i++]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Medians of `fns` timed in turn, `rounds` times after one warm-up each: drift hits every row alike. */
function interleaved(fns: Array<() => unknown>, rounds: number): number[] {
  for (const fn of fns) fn();
  const times = fns.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, i) => {
      const started = performance.now();
      fn();
      times[i].push(performance.now() - started);
    });
  }
  return times.map(median);
}

const benchmark: Benchmark = {
  name: 'codec',
  async run(): Promise<BenchTable[]> {
    const update = makeUpdate();
    const floats = update.reduce((a, t) => a + t.data.length, 0);
    const mb = (floats * 4) / 1e6;
    const repeats = { repeats: 9, warmup: 2 };
    const copy = () => update.map((t) => new Float32Array(t.data));
    const fp32Bytes = encodeTensors(update, { encoding: 'fp32' }).length;
    const rows: BenchTable['rows'] = [];
    let copyMs = 0;
    for (const [label, spec] of CASES) {
      let bytes = encodeTensors(update, spec);
      const roundMs = median(await timeRepeated(() => decodeTensors(encodeTensors(update, spec)), repeats));
      const encMs = median(await timeRepeated(() => (bytes = encodeTensors(update, spec)), repeats));
      // The copy is timed with each row's decodes, in turn, so each ratio is of times measured together.
      const [copyHere, decMs, hostMs] = interleaved(
        [copy, () => decodeTensors(bytes), () => decodeTensors(bytes, { crc32c: hostCrc32c })],
        15,
      );
      copyMs = copyHere;
      const decoded = decodeTensors(bytes);
      let maxErr = 0;
      decoded.forEach((t, i) => t.data.forEach((x, j) => (maxErr = Math.max(maxErr, Math.abs(x - update[i].data[j])))));
      rows.push({
        encoding: label,
        'encode+decode ms': roundMs,
        'MB/s': mb / (roundMs / 1000),
        'encode ms': encMs,
        'copy ms': copyHere,
        'decode ms': decMs,
        'decode vs copy': copyHere / decMs,
        [`decode ms, ${hostCrc32cKind} CRC`]: hostMs,
        [`decode vs copy, ${hostCrc32cKind} CRC`]: copyHere / hostMs,
        'bytes/fp32': bytes.length / fp32Bytes,
        'max abs error': maxErr,
      });
    }
    const container = encodeTensors(update, { encoding: 'fp32' });
    const [crcCopyMs, ...crcMs] = interleaved(
      [copy, () => crc32cSlicing8Bytes(container), () => crc32c(container), () => hostCrc32c(container)],
      15,
    );
    const crcRows = [
      ['baseline: Float32Array copy of the same floats', crcCopyMs],
      ['before issue 15: slicing-by-8, byte loads (JS)', crcMs[0]],
      ['portable crc32c: slicing-by-16, word loads (JS)', crcMs[1]],
      [`hostCrc32c (${hostCrc32cKind})`, crcMs[2]],
    ].map(([label, ms]) => ({
      checksum: label as string,
      ms: ms as number,
      'GB/s': container.length / 1e6 / (ms as number),
      'vs copy': crcCopyMs / (ms as number),
    }));
    return [
      {
        title: `encode+decode of a ${floats.toLocaleString('en')}-parameter update (${SHAPES.map(([, s]) => `[${s.join(',')}]`).join(' + ')})`,
        columns: [
          'encoding',
          'encode+decode ms',
          'MB/s',
          'encode ms',
          'copy ms',
          'decode ms',
          'decode vs copy',
          `decode ms, ${hostCrc32cKind} CRC`,
          `decode vs copy, ${hostCrc32cKind} CRC`,
          'bytes/fp32',
          'max abs error',
        ],
        rows,
        notes: [
          'encode+decode and encode: median of 9 runs after 2 warm-ups; MB/s counts 4 bytes per parameter (fp32-equivalent)',
          "copy = `new Float32Array(src)` of the update's floats; it and the two decodes run in turn, 15 rounds, medians (issue 15 goal 2: decode >= 0.3 of copy for fp32 and int8)",
          `decode = decodeTensors with the portable JS CRC-32C (browsers); ${hostCrc32cKind} CRC = the coordinator's hostCrc32c (@node-rs/crc32, the CPU's crc32c instruction when native)`,
          'bytes/fp32 = container size / fp32 container size; values ~N(0, 0.01^2), so max abs error is absolute on that scale',
          'topk max abs error includes the dropped entries (error feedback carries them to the next round)',
          'every decode verifies the CRC-32C over the whole container; fp32 decode returns zero-copy views',
          `last copy: ${copyMs.toFixed(3)} ms`,
        ],
      },
      {
        title: `CRC-32C of the ${(container.length / 1e6).toFixed(1)} MB fp32 container`,
        columns: ['checksum', 'ms', 'GB/s', 'vs copy'],
        rows: crcRows,
        notes: ['the four run in turn, 15 rounds after a warm-up, medians; vs copy = copy ms / this ms'],
      },
    ];
  },
};

export default benchmark;
