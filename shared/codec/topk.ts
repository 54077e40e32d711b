/**
 * Top-k sparsification: which entries a `topk` tensor keeps and how their
 * indices are written.
 *
 * k = ceil(fraction * n) entries of largest magnitude are kept; ties at the
 * threshold go to the lowest indices, so the choice is deterministic. Indices
 * are strictly increasing and stored as deltas (the first delta is the first
 * index itself, every later delta is >= 1) in whichever of three forms is
 * smallest for this tensor: LEB128 varint, uint16 or uint32 (fixed widths win
 * ties because they decode faster).
 */
import { CodecError } from './codec-error.ts';

/** How delta-encoded indices are stored; the number is the wire code. */
export type IndexFormat = 'varint' | 'u16' | 'u32';
export const INDEX_FORMAT_CODES: Record<IndexFormat, number> = { varint: 0, u16: 1, u32: 2 };
export const INDEX_FORMATS: readonly IndexFormat[] = ['varint', 'u16', 'u32'];

/** k for a tensor of n elements. */
export function topkCount(n: number, fraction: number): number {
  return Math.min(n, Math.ceil(fraction * n));
}

/** The value of rank `kth` (0-based, ascending) in `a`; reorders `a`. Median-of-3 quickselect. */
function selectKth(a: Float32Array, kth: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    const x = a[lo];
    const y = a[mid];
    const z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (kth <= j) hi = j;
    else if (kth >= i) lo = i;
    else return a[kth];
  }
  return a[kth];
}

/**
 * Increasing indices of the k largest-magnitude entries of `data` (finite values).
 *
 * @example
 * selectTopk(new Float32Array([0.1, -5, 3, 0]), 2); // Uint32Array [1, 2]
 */
export function selectTopk(data: Float32Array, k: number): Uint32Array {
  const n = data.length;
  const out = new Uint32Array(k);
  if (k === 0) return out;
  if (k === n) {
    for (let i = 0; i < n; i++) out[i] = i;
    return out;
  }
  const mags = new Float32Array(n);
  for (let i = 0; i < n; i++) mags[i] = Math.abs(data[i]);
  const threshold = selectKth(mags, n - k);
  let above = 0;
  for (let i = 0; i < n; i++) if (Math.abs(data[i]) > threshold) above++;
  let ties = k - above;
  let w = 0;
  for (let i = 0; i < n && w < k; i++) {
    const m = Math.abs(data[i]);
    if (m > threshold || (m === threshold && ties-- > 0)) out[w++] = i;
  }
  return out;
}

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/**
 * Picks the smallest index format for increasing `indices` and its byte length.
 *
 * @example
 * planIndices(new Uint32Array([3, 4, 9])); // { format: 'varint', byteLength: 3 }
 */
export function planIndices(indices: Uint32Array): { format: IndexFormat; byteLength: number } {
  let varint = 0;
  let maxDelta = 0;
  let prev = 0;
  for (let i = 0; i < indices.length; i++) {
    const d = indices[i] - prev;
    prev = indices[i];
    varint += varintSize(d);
    if (d > maxDelta) maxDelta = d;
  }
  const k = indices.length;
  if (maxDelta <= 0xffff && 2 * k <= varint) return { format: 'u16', byteLength: 2 * k };
  if (4 * k <= varint) return { format: 'u32', byteLength: 4 * k };
  return { format: 'varint', byteLength: varint };
}

/** Writes delta-encoded `indices` at `dst[0..]`; `dst` is exactly the planned length. */
export function writeIndices(indices: Uint32Array, format: IndexFormat, dst: Uint8Array): void {
  let prev = 0;
  let p = 0;
  for (let i = 0; i < indices.length; i++) {
    let d = indices[i] - prev;
    prev = indices[i];
    if (format === 'varint') {
      while (d >= 0x80) {
        dst[p++] = (d & 0x7f) | 0x80;
        d >>>= 7;
      }
      dst[p++] = d;
    } else {
      dst[p++] = d & 0xff;
      dst[p++] = (d >>> 8) & 0xff;
      if (format === 'u32') {
        dst[p++] = (d >>> 16) & 0xff;
        dst[p++] = d >>> 24;
      }
    }
  }
}

function badIndex(tensor: string, message: string, details: Record<string, unknown>): CodecError {
  return new CodecError('bad_encoding', `tensor "${tensor}": ${message}`, { tensor, ...details });
}

/**
 * Reads k delta-encoded indices from `src` (exactly the index section),
 * checking they are strictly increasing, below n, and fill `src` exactly.
 *
 * @example
 * readIndices(new Uint8Array([3, 1, 5]), 'varint', 3, 10, 'w'); // Uint32Array [3, 4, 9]
 */
export function readIndices(src: Uint8Array, format: IndexFormat, k: number, n: number, tensor: string): Uint32Array {
  const out = new Uint32Array(k);
  let p = 0;
  let prev = -1;
  for (let i = 0; i < k; i++) {
    let d: number;
    if (format === 'varint') {
      d = 0;
      let shift = 0;
      for (;;) {
        if (p >= src.length) throw badIndex(tensor, `index section ends inside index ${i}`, { index: i });
        const b = src[p++];
        if (shift === 28 && b > 0x0f) throw badIndex(tensor, `varint index delta ${i} exceeds 32 bits`, { index: i });
        d += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) break;
        shift += 7;
      }
    } else if (format === 'u16') {
      if (p + 2 > src.length) throw badIndex(tensor, `index section ends inside index ${i}`, { index: i });
      d = src[p] | (src[p + 1] << 8);
      p += 2;
    } else {
      if (p + 4 > src.length) throw badIndex(tensor, `index section ends inside index ${i}`, { index: i });
      d = (src[p] | (src[p + 1] << 8) | (src[p + 2] << 16) | (src[p + 3] << 24)) >>> 0;
      p += 4;
    }
    if (i > 0 && d === 0) throw badIndex(tensor, `indices not strictly increasing at ${i}`, { index: i });
    const idx = i === 0 ? d : prev + d;
    if (idx >= n)
      throw badIndex(tensor, `index ${idx} out of range for ${n} elements`, { index: i, value: idx, elements: n });
    out[i] = idx;
    prev = idx;
  }
  if (p !== src.length)
    throw badIndex(tensor, `index section has ${src.length - p} trailing bytes`, { trailing: src.length - p });
  return out;
}
