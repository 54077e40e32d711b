/**
 * Where the accumulator's sum lives and how an update is folded into it: two
 * float32 buffers (the sum and a spare) and a staging slot in one memory.
 * `stage` copies the update into the slot (one `set()` per tensor) and one
 * SIMD pass over the slot both sums its squares (finiteness and the global
 * norm) and writes sum + scale*update into the spare. The accumulator then
 * `commit`s (the spare becomes the sum), restages with a smaller scale when
 * the norm bound applies, or drops the spare when the update holds a NaN: a
 * refused update never touches the sum.
 *
 * Why not tfjs ops: the norm check had to finish before an update touched the
 * sum, so every update cost an upload, a GPU/wasm round trip (a sync) and two
 * temporary tensors; that path ran at 0.10 of a `set()` copy (issue 15,
 * aggregation bench). Copying the whole update first measured ~15% faster
 * than copying and passing over 64 KiB chunks in turn (cache-resident chunks,
 * but twice the calls and interleaved streams).
 *
 * WebAssembly SIMD (fold-kernel-wasm.ts) where the runtime has it (Node 20
 * does), else the same pass in plain JavaScript over the same layout.
 */
import { AggregationError } from './errors.ts';
import { foldKernelBytes } from './fold-kernel-wasm.ts';

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
  /** The staging slot, one view per tensor: what `stage` copies into and `stageSlot` reads. */
  readonly slot: readonly Float32Array[];
  /** `stage` of what the slot holds now, without copying anything into it. */
  stageSlot(scale: number): number;
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
  const pages = Math.ceil((3 * total * 4) / PAGE_BYTES);
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
  // Boundary cast: WebAssembly.Exports is untyped; WasmExports is what fold-kernel-wasm.ts assembles.
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as WasmExports;
  const bufferBytes = total * 4;
  const slotAt = 2 * bufferBytes;
  // Zero between and after the tensors forever: only each tensor's own range is ever written.
  const slot = new Float32Array(memory.buffer, slotAt, total);
  const stageSlot = (scale: number) =>
    k.stage(current * bufferBytes, (1 - current) * bufferBytes, slotAt, total, scale);
  let current = 0;
  return {
    kind: 'wasm-simd',
    offsets,
    sum: () => new Float32Array(memory.buffer, current * bufferBytes, total),
    slot: sizes.map((n, i) => slot.subarray(offsets[i], offsets[i] + n)),
    stage(tensors, scale) {
      for (let i = 0; i < tensors.length; i++) slot.set(tensors[i], offsets[i]);
      return stageSlot(scale);
    },
    stageSlot,
    commit() {
      current = 1 - current;
    },
  };
}

function jsKernel(sizes: readonly number[], offsets: number[], total: number): FoldKernel {
  const buffers = [new Float32Array(total), new Float32Array(total)];
  const slot = new Float32Array(total);
  let current = 0;
  const stageSlot = (scale: number) => {
    const a = buffers[current];
    const b = buffers[1 - current];
    const s = Math.fround(scale);
    let squares = 0;
    for (let j = 0; j < total; j++) {
      const v = slot[j];
      squares += Math.fround(v * v);
      // Math.fround: float32 products and adds, as the wasm kernel's f32x4 ops round.
      b[j] = a[j] + Math.fround(s * v);
    }
    return squares;
  };
  return {
    kind: 'js',
    offsets,
    sum: () => buffers[current],
    slot: sizes.map((n, i) => slot.subarray(offsets[i], offsets[i] + n)),
    stage(tensors, scale) {
      for (let i = 0; i < tensors.length; i++) slot.set(tensors[i], offsets[i]);
      return stageSlot(scale);
    },
    stageSlot,
    commit() {
      current = 1 - current;
    },
  };
}
