/**
 * Conv2DBackpropFilter for tfjs-backend-wasm, which ships without it (4.22.0),
 * so no convolution can be trained on wasm out of the box.
 *
 * The filter gradient is one matrix product:
 *   dW[k, co] = sum_p colsT[k, p] * dy[p, co]
 * with k = (filterRow, filterCol, inChannel) and p = (batch, outRow, outCol).
 * We build `colsT` (im2col, already transposed so the product needs no
 * transpose) on the wasm heap in TypeScript and hand the product to the wasm
 * backend's own BatchMatMul (XNNPACK, SIMD when available). A product with a
 * transposed operand runs ~10x slower there, hence the transposed layout.
 * The batch is cut into chunks so the im2col buffer stays bounded
 * (`MAX_COLUMN_FLOATS`), and chunk products are summed into the first one.
 *
 * Supports NHWC and NCHW, any strides, 'same' / 'valid' / explicit pads;
 * dilations are always 1 for this kernel in tfjs.
 */
import { backend_util, BatchMatMul, Conv2DBackpropFilter, getKernel, util } from '@tensorflow/tfjs';
import type {
  BatchMatMulAttrs,
  Conv2DBackpropFilterAttrs,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** Upper bound on the im2col buffer per chunk, in float32 elements (16 MiB). */
export const MAX_COLUMN_FLOATS = 1 << 22;

/** What tfjs passes a Conv2DBackpropFilter kernel on the wasm backend. */
export interface Conv2DBackpropFilterArgs {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropFilterAttrs;
}

/** Element strides of a rank-4 activation, named by axis meaning. */
interface ImageStrides {
  batch: number;
  row: number;
  col: number;
  channel: number;
}

function imageStrides(shape: number[], channelsLast: boolean): ImageStrides {
  const [s0, s1, s2] = util.computeStrides(shape);
  return channelsLast ? { batch: s0, row: s1, col: s2, channel: 1 } : { batch: s0, row: s2, col: 1, channel: s1 };
}

function floatsOf(backend: BackendWasm, info: TensorInfo): Float32Array {
  const values = backend.typedArrayFromHeap(info);
  if (!(values instanceof Float32Array)) {
    throw new Error(`Conv2DBackpropFilter on wasm needs float32 tensors, got ${info.dtype}`);
  }
  return values;
}

/**
 * Writes im2col columns for examples [b0, b0 + nb) into `cols`, transposed:
 * row k = (wR * filterWidth + wC) * inChannels + d1, column p = local pixel.
 * Taps that fall into the padding stay zero.
 */
function fillColumnsTransposed(
  x: Float32Array,
  xs: ImageStrides,
  cols: Float32Array,
  info: backend_util.Conv2DInfo,
  b0: number,
  nb: number,
): void {
  const { filterHeight, filterWidth, inChannels, inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } =
    info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const pixelsPerExample = outHeight * outWidth;
  const columns = nb * pixelsPerExample;
  cols.fill(0);
  for (let wR = 0; wR < filterHeight; wR++) {
    // Output rows whose tap lands inside the image, as in tfjs-backend-cpu.
    const yRMin = Math.max(0, Math.ceil((top - wR) / strideHeight));
    const yRMax = Math.min(outHeight, Math.ceil((inHeight + top - wR) / strideHeight));
    for (let wC = 0; wC < filterWidth; wC++) {
      const yCMin = Math.max(0, Math.ceil((left - wC) / strideWidth));
      const yCMax = Math.min(outWidth, Math.ceil((inWidth + left - wC) / strideWidth));
      const kBase = (wR * filterWidth + wC) * inChannels;
      for (let d1 = 0; d1 < inChannels; d1++) {
        const rowStart = (kBase + d1) * columns;
        for (let b = 0; b < nb; b++) {
          const xBatch = (b0 + b) * xs.batch + d1 * xs.channel;
          const pBatch = rowStart + b * pixelsPerExample;
          for (let yR = yRMin; yR < yRMax; yR++) {
            const xRow = xBatch + (yR * strideHeight + wR - top) * xs.row;
            const pRow = pBatch + yR * outWidth;
            let xi = xRow + (yCMin * strideWidth + wC - left) * xs.col;
            const xStep = strideWidth * xs.col;
            for (let yC = yCMin; yC < yCMax; yC++, xi += xStep) cols[pRow + yC] = x[xi];
          }
        }
      }
    }
  }
}

/** Copies dy for examples [b0, b0 + nb) as a row-major [pixels, outChannels] matrix. */
function fillGradientRows(
  dy: Float32Array,
  ds: ImageStrides,
  rows: Float32Array,
  info: backend_util.Conv2DInfo,
  b0: number,
  nb: number,
): void {
  const { outHeight, outWidth, outChannels } = info;
  if (ds.channel === 1) {
    // NHWC: the chunk is already contiguous.
    rows.set(dy.subarray(b0 * ds.batch, (b0 + nb) * ds.batch));
    return;
  }
  let o = 0;
  for (let b = b0; b < b0 + nb; b++) {
    for (let yR = 0; yR < outHeight; yR++) {
      for (let yC = 0; yC < outWidth; yC++) {
        const base = b * ds.batch + yR * ds.row + yC * ds.col;
        for (let d2 = 0; d2 < outChannels; d2++) rows[o++] = dy[base + d2 * ds.channel];
      }
    }
  }
}

function batchMatMulOnWasm(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo {
  const kernel = getKernel(BatchMatMul, 'wasm');
  if (kernel === undefined) throw new Error('wasm backend has no BatchMatMul kernel');
  const attrs: BatchMatMulAttrs = { transposeA: false, transposeB: false };
  return kernel.kernelFunc({
    inputs: { a, b },
    backend,
    attrs: attrs as unknown as NamedAttrMap,
  }) as TensorInfo;
}

/**
 * Builds the kernel function with a given bound on the im2col buffer (in
 * float32 elements); the registered kernel uses `MAX_COLUMN_FLOATS`, tests use
 * a tiny bound to exercise chunking on small inputs. The result is the
 * gradient of conv2d with respect to its filter, shaped `attrs.filterShape`.
 *
 * @example
 * const kernelFunc = makeConv2dBackpropFilterWasm(1 << 20);
 * const dw = kernelFunc({ inputs: { x, dy }, backend, attrs });
 */
export function makeConv2dBackpropFilterWasm(maxColumnFloats: number): (args: Conv2DBackpropFilterArgs) => TensorInfo {
  return (args) => conv2dBackpropFilter(args, maxColumnFloats);
}

function conv2dBackpropFilter(args: Conv2DBackpropFilterArgs, maxColumnFloats: number): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  const channelsLast = info.dataFormat === 'channelsLast';
  const xs = imageStrides(x.shape, channelsLast);
  const ds = imageStrides(dy.shape, channelsLast);
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const pixelsPerExample = info.outHeight * info.outWidth;
  const chunk = Math.max(1, Math.min(info.batchSize, Math.floor(maxColumnFloats / (k * pixelsPerExample))));

  let result: TensorInfo | null = null;
  for (let b0 = 0; b0 < info.batchSize; b0 += chunk) {
    const nb = Math.min(chunk, info.batchSize - b0);
    const pixels = nb * pixelsPerExample;
    const cols = backend.makeOutput([1, k, pixels], 'float32');
    const rows = backend.makeOutput([1, pixels, info.outChannels], 'float32');
    // Views are taken only after allocating: growing the wasm heap detaches older views.
    fillColumnsTransposed(floatsOf(backend, x), xs, floatsOf(backend, cols), info, b0, nb);
    fillGradientRows(floatsOf(backend, dy), ds, floatsOf(backend, rows), info, b0, nb);
    const product = batchMatMulOnWasm(backend, cols, rows);
    backend.disposeData(cols.dataId);
    backend.disposeData(rows.dataId);
    if (result === null) {
      result = product;
    } else {
      const acc = floatsOf(backend, result);
      const add = floatsOf(backend, product);
      for (let i = 0; i < acc.length; i++) acc[i] += add[i];
      backend.disposeData(product.dataId);
    }
  }
  if (result === null) {
    // Empty batch: the gradient is all zeros.
    const zeros = backend.makeOutput([...filterShape], 'float32');
    floatsOf(backend, zeros).fill(0);
    return zeros;
  }
  return { dataId: result.dataId, shape: [...filterShape], dtype: 'float32' };
}

/**
 * Kernel config registered like tfjs's own kernels.
 *
 * @example
 * import { registerKernel } from '@tensorflow/tfjs';
 * registerKernel(conv2dBackpropFilterWasmConfig);
 */
export const conv2dBackpropFilterWasmConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: makeConv2dBackpropFilterWasm(MAX_COLUMN_FLOATS) as unknown as KernelFunc,
};
