/**
 * The bytes of the accumulator's WebAssembly SIMD kernel, assembled here from
 * opcodes (no toolchain, no binary blob to trust): one function over float32
 * buffers in one imported memory.
 *
 * `stage(a, b, u, n, s) -> f64` writes b = a + s*u and returns the sum of
 * squares of u, in one pass: u is read once, for the norm check and the add.
 * Squares add up in four f32x4 lanes over blocks of 1,024 floats, then in
 * float64, so the relative error stays near float32's rounding of one square
 * (~1e-8 for 5k floats in the test) instead of growing with n. A NaN or an
 * infinity anywhere makes the result non-finite: the finiteness check costs
 * nothing extra. Each add rounds to float32, as a tfjs add would.
 *
 * It takes n as a multiple of 16 floats and 16-byte aligned pointers: the
 * kernel pads every tensor with zeros to 64 bytes (see fold-kernel.ts).
 */

const I32 = 0x7f;
const F32 = 0x7d;
const F64 = 0x7c;
const V128 = 0x7b;

function uleb(value: number): number[] {
  const out: number[] = [];
  let n = value >>> 0;
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(value: number): number[] {
  const out: number[] = [];
  let n = value | 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const text = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const tee = (i: number) => [0x22, ...uleb(i)];
const i32 = (v: number) => [0x41, ...sleb(v)];
const I32_ADD = [0x6a];
const I32_SHL = [0x74];
const I32_LT_U = [0x49];
const I32_GE_U = [0x4f];
const F64_ADD = [0xa0];
const SELECT = [0x1b];
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = [0x0b];
const br = (depth: number) => [0x0c, ...uleb(depth)];
const brIf = (depth: number) => [0x0d, ...uleb(depth)];
const simd = (code: number, ...immediates: number[]) => [0xfd, ...uleb(code), ...immediates];
const v128Load = (offset: number) => simd(0x00, 4, ...uleb(offset));
const v128Store = (offset: number) => simd(0x0b, 4, ...uleb(offset));
const V128_ZERO = simd(0x0c, ...new Array<number>(16).fill(0));
/** Moves lanes 2-3 of an f32x4 to lanes 0-1 (for the second promote). */
const HIGH_HALF = simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
const F32X4_SPLAT = simd(0x13);
const f64x2Lane = (lane: number) => simd(0x21, lane);
const F64X2_PROMOTE_LOW = simd(0x5f);
const F32X4_ADD = simd(0xe4);
const F32X4_MUL = simd(0xe6);
const F64X2_ADD = simd(0xf0);

/** Bytes of one 16-float step: four 16-byte vectors at these offsets. */
const LANE_OFFSETS = [0, 16, 32, 48];
const STEP_BYTES = 64;
/** Floats summed in float32 before the partial sums move to float64. */
const BLOCK_BYTES = 1024 * 4;

/**
 * `stage(a, b, u, n, s) -> f64`: b = a + s*u over n floats, returning the sum of squares of u.
 * Squares add up in four f32x4 lanes per 1,024-float block, then in float64.
 */
function stageBody(): number[] {
  const [a, b, u, n, s] = [0, 1, 2, 3, 4];
  const [end, blockEnd] = [5, 6];
  const acc = [7, 8, 9, 10];
  const [tmp, d, scale] = [11, 12, 13];
  const code = [
    ...get(u),
    ...get(n),
    ...i32(2),
    ...I32_SHL,
    ...I32_ADD,
    ...set(end),
    ...get(s),
    ...F32X4_SPLAT,
    ...set(scale),
    ...BLOCK,
    ...LOOP,
    ...get(u),
    ...get(end),
    ...I32_GE_U,
    ...brIf(1),
    // blockEnd = min(u + BLOCK_BYTES, end)
    ...get(u),
    ...i32(BLOCK_BYTES),
    ...I32_ADD,
    ...tee(blockEnd),
    ...get(end),
    ...get(blockEnd),
    ...get(end),
    ...I32_LT_U,
    ...SELECT,
    ...set(blockEnd),
    ...acc.flatMap((x) => [...V128_ZERO, ...set(x)]),
    ...LOOP,
    ...LANE_OFFSETS.flatMap((offset, k) => [
      ...get(u),
      ...v128Load(offset),
      ...set(tmp),
      ...get(acc[k]),
      ...get(tmp),
      ...get(tmp),
      ...F32X4_MUL,
      ...F32X4_ADD,
      ...set(acc[k]),
      ...get(b),
      ...get(a),
      ...v128Load(offset),
      ...get(tmp),
      ...get(scale),
      ...F32X4_MUL,
      ...F32X4_ADD,
      ...v128Store(offset),
    ]),
    ...[a, b].flatMap((ptr) => [...get(ptr), ...i32(STEP_BYTES), ...I32_ADD, ...set(ptr)]),
    ...get(u),
    ...i32(STEP_BYTES),
    ...I32_ADD,
    ...tee(u),
    ...get(blockEnd),
    ...I32_LT_U,
    ...brIf(0),
    ...END,
    // d += promote(acc0 + acc1 + acc2 + acc3), both halves
    ...get(acc[0]),
    ...get(acc[1]),
    ...F32X4_ADD,
    ...get(acc[2]),
    ...get(acc[3]),
    ...F32X4_ADD,
    ...F32X4_ADD,
    ...set(tmp),
    ...get(d),
    ...get(tmp),
    ...F64X2_PROMOTE_LOW,
    ...F64X2_ADD,
    ...get(tmp),
    ...get(tmp),
    ...HIGH_HALF,
    ...F64X2_PROMOTE_LOW,
    ...F64X2_ADD,
    ...set(d),
    ...br(0),
    ...END,
    ...END,
    ...get(d),
    ...f64x2Lane(0),
    ...get(d),
    ...f64x2Lane(1),
    ...F64_ADD,
    ...END,
  ];
  return [
    ...vector([
      [...uleb(2), I32],
      [...uleb(7), V128],
    ]),
    ...code,
  ];
}

/** The module: imports `env.memory`, exports `stage(a, b, u, n, s) -> f64`. */
export function foldKernelBytes(): Uint8Array<ArrayBuffer> {
  const types = [[0x60, ...vector([[I32], [I32], [I32], [I32], [F32]]), ...vector([[F64]])]];
  const imports = [[...text('env'), ...text('memory'), 0x02, 0x00, ...uleb(1)]];
  const functions = [[0]];
  const exports = [[...text('stage'), 0x00, 0]];
  const body = stageBody();
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vector(types)),
    ...section(2, vector(imports)),
    ...section(3, vector(functions)),
    ...section(7, vector(exports)),
    ...section(10, vector([[...uleb(body.length), ...body]])),
  ]);
}
