/**
 * Where the accumulator's sum lives and how an update is folded into it: two
 * float32 buffers (the sum and a spare) and a small staging chunk in one
 * memory. `stage` reads the update once, chunk by chunk: each chunk is copied
 * into the staging chunk (which stays in cache) and one SIMD pass both sums
 * its squares (finiteness and the global norm) and writes sum + scale*update
 * into the spare. The accumulator then `commit`s (the spare becomes the sum),
 * restages with a smaller scale when the norm bound applies, or drops the
 * spare when the update holds a NaN: the sum is never touched by a refused update.
 *
 * Why not tfjs ops: the norm check had to finish before an update touched the
 * sum, so every update cost an upload, a GPU/wasm round trip (a sync) and two
 * temporary tensors; the tfjs path ran at 0.10 of a `set()` copy (issue 15,
 * aggregation bench), this one at the figure RESULTS.md gives.
 *
 * WebAssembly SIMD (fold-kernel-wasm.ts) where the runtime has it (Node 20
 * does), else the same pass in plain JavaScript over the same layout.
 */
import { AggregationError } from './errors.ts';
import { foldKernelBytes } from './fold-kernel-wasm.ts';

/** Floats per staging chunk: 32 KiB, small enough to stay in L1/L2 between the copy and the pass. */
const CHUNK_FLOATS = 8192;
const PAGE_BYTES = 65536;
/** wasm32 addresses 4 GiB. */
const MAX_PAGES = 65536;
/** Each tensor is padded with zeros to this many floats (the kernel's step). */
const PAD_FLOATS = 16;

export interface FoldKernel {
  /** Which implementation runs the pass. */
  readonly kind: 'wasm-simd' | 'js';
  /** Where tensor i starts in `sum()` (tensors are padded to 16 floats). */
  readonly offsets: readonly number[];
  /** The running float32 sum in the padded layout (a view; read it before the next commit). */
  sum(): Float32Array;
  /**
   * Writes `sum + scale * tensors` into the spare buffer and returns the sum
   * of squares of `tensors` (float64 total of float32 squares): non-finite
   * when they hold a NaN or an infinity, or when a square overflows float32.
   */
  stage(tensors: readonly Float32Array[], scale: number): number;
  /** Makes the last staged buffer the sum. */
  commit(): void;
}

type WasmExports = { stage(a: number, b: number, u: number, n: number, s: number): number };

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel, or null where WebAssembly (SIMD) is unavailable. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  const bytes = foldKernelBytes();
  compiled = typeof WebAssembly === 'object' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  return compiled;
}

const padded = (n: number) => Math.ceil(n / PAD_FLOATS) * PAD_FLOATS;

/**
 * A zeroed kernel for tensors of `sizes` floats.
 *
 * @example
 * const k = createFoldKernel([784 * 100, 100]);
 * if (Number.isFinite(k.stage(update, weight))) k.commit();
 */
export function createFoldKernel(
  sizes: readonly number[],
  options: { implementation?: 'auto' | 'js' } = {},
): FoldKernel {
  const offsets: number[] = [];
  let total = 0;
  for (const n of sizes) {
    offsets.push(total);
    total += padded(n);
  }
  total = Math.max(total, PAD_FLOATS);
  if (total > 2 ** 29) {
    throw new AggregationError('bad-spec', `a model of ${total} parameters is too large to aggregate in memory`, {
      params: total,
    });
  }
  const module = options.implementation === 'js' ? null : kernelModule();
  const pages = Math.ceil(((2 * total + CHUNK_FLOATS) * 4) / PAGE_BYTES);
  if (module && pages <= MAX_PAGES) return wasmKernel(module, sizes, offsets, total, pages);
  return jsKernel(sizes, offsets, total);
}

function wasmKernel(
  module: WebAssembly.Module,
  sizes: readonly number[],
  offsets: number[],
  total: number,
  pages: number,
): FoldKernel {
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as WasmExports;
  const bufferBytes = total * 4;
  const chunkAt = 2 * bufferBytes;
  const chunk = new Float32Array(memory.buffer, chunkAt, CHUNK_FLOATS);
  let current = 0;
  return {
    kind: 'wasm-simd',
    offsets,
    sum: () => new Float32Array(memory.buffer, current * bufferBytes, total),
    stage(tensors, scale) {
      const a = current * bufferBytes;
      const b = (1 - current) * bufferBytes;
      let squares = 0;
      for (let i = 0; i < tensors.length; i++) {
        const t = tensors[i];
        const n = sizes[i];
        for (let start = 0; start < n; start += CHUNK_FLOATS) {
          const m = Math.min(CHUNK_FLOATS, n - start);
          chunk.set(m === n ? t : t.subarray(start, start + m));
          const stepped = padded(m);
          if (stepped > m) chunk.fill(0, m, stepped);
          const at = (offsets[i] + start) * 4;
          squares += k.stage(a + at, b + at, chunkAt, stepped, scale);
        }
      }
      return squares;
    },
    commit() {
      current = 1 - current;
    },
  };
}

function jsKernel(sizes: readonly number[], offsets: number[], total: number): FoldKernel {
  const buffers = [new Float32Array(total), new Float32Array(total)];
  let current = 0;
  return {
    kind: 'js',
    offsets,
    sum: () => buffers[current],
    stage(tensors, scale) {
      const a = buffers[current];
      const b = buffers[1 - current];
      const s = Math.fround(scale);
      let squares = 0;
      for (let i = 0; i < tensors.length; i++) {
        const t = tensors[i];
        const o = offsets[i];
        for (let j = 0; j < sizes[i]; j++) {
          const v = t[j];
          squares += Math.fround(v * v);
          // Math.fround: float32 products and adds, as the wasm kernel's f32x4 ops round.
          b[o + j] = a[o + j] + Math.fround(s * v);
        }
      }
      return squares;
    },
    commit() {
      current = 1 - current;
    },
  };
}
