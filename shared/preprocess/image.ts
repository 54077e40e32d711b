/**
 * Images to features: pixels (RGBA ImageData, or a typed array with its
 * width, height and channel count) become luma (BT.601) or RGB in [0, 1],
 * optionally inverted, are fitted into the model's frame ('stretch', or
 * MNIST's 'center-of-mass' box), then standardised per channel. Output is
 * height x width x channels, row-major (HWC, as tfjs images are).
 */
import { PreprocessInputError } from './input-error.ts';
import type { ImagePreprocess } from './spec.ts';

/** What image inputs look like: browser ImageData, or any pixel array with its geometry. */
export interface RawImage {
  data: Uint8ClampedArray | Uint8Array | Float32Array;
  width: number;
  height: number;
  /** Channels per pixel in `data` (default 4: RGBA, as ImageData). Float data is taken as [0, 1], bytes as [0, 255]. */
  channels?: 1 | 3 | 4;
}

export function imageWidth(spec: ImagePreprocess): number {
  return spec.width * spec.height * spec.channels;
}

function isRawImage(v: unknown): v is RawImage {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as RawImage;
  return (
    (r.data instanceof Uint8ClampedArray || r.data instanceof Uint8Array || r.data instanceof Float32Array) &&
    Number.isInteger(r.width) &&
    Number.isInteger(r.height)
  );
}

/** Source pixels as `channels` floats in [0, 1] per pixel. */
function toUnitPixels(image: RawImage, channels: 1 | 3): Float32Array {
  const { width: w, height: h } = image;
  const inC = image.channels ?? 4;
  if (w < 1 || h < 1 || image.data.length !== w * h * inC) {
    throw new PreprocessInputError(
      'bad_image',
      'image',
      `an image of ${w}x${h} with ${inC} channels needs ${Math.max(0, w * h * inC)} values; got ${image.data.length}`,
    );
  }
  const scale = image.data instanceof Float32Array ? 1 : 1 / 255;
  const out = new Float32Array(w * h * channels);
  const d = image.data;
  for (let i = 0, p = 0; i < w * h; i++, p += inC) {
    const r = d[p] * scale;
    const g = inC >= 3 ? d[p + 1] * scale : r;
    const b = inC >= 3 ? d[p + 2] * scale : r;
    if (!(Number.isFinite(r) && Number.isFinite(g) && Number.isFinite(b)))
      throw new PreprocessInputError('bad_image', 'image', `pixel ${i} is not a finite number`);
    if (channels === 1) out[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      out[3 * i] = r;
      out[3 * i + 1] = g;
      out[3 * i + 2] = b;
    }
  }
  return out;
}

/** Area average of the source rectangle [x0, x1) x [y0, y1) (fractional edges weighted), per channel. */
function areaSample(
  src: Float32Array,
  w: number,
  c: number,
  x0: number,
  x1: number,
  y0: number,
  y1: number,
  out: Float32Array,
  at: number,
): void {
  for (let k = 0; k < c; k++) out[at + k] = 0;
  let total = 0;
  for (let y = Math.floor(y0); y < Math.ceil(y1); y++) {
    const wy = Math.min(y + 1, y1) - Math.max(y, y0);
    for (let x = Math.floor(x0); x < Math.ceil(x1); x++) {
      const wt = wy * (Math.min(x + 1, x1) - Math.max(x, x0));
      total += wt;
      for (let k = 0; k < c; k++) out[at + k] += wt * src[(y * w + x) * c + k];
    }
  }
  for (let k = 0; k < c; k++) out[at + k] /= total;
}

/** Bilinear sample at source coordinates (pixel centres at i + 0.5), clamped at the edges. */
function bilinear(
  src: Float32Array,
  w: number,
  h: number,
  c: number,
  sx: number,
  sy: number,
  out: Float32Array,
  at: number,
): void {
  const x = Math.min(Math.max(sx - 0.5, 0), w - 1);
  const y = Math.min(Math.max(sy - 0.5, 0), h - 1);
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const x1 = Math.min(x0 + 1, w - 1);
  const y1 = Math.min(y0 + 1, h - 1);
  const fx = x - x0;
  const fy = y - y0;
  for (let k = 0; k < c; k++) {
    const a = src[(y0 * w + x0) * c + k] * (1 - fx) + src[(y0 * w + x1) * c + k] * fx;
    const b = src[(y1 * w + x0) * c + k] * (1 - fx) + src[(y1 * w + x1) * c + k] * fx;
    out[at + k] = a * (1 - fy) + b * fy;
  }
}

/** Resizes the region [rx, rx+rw) x [ry, ry+rh) of `src` to dw x dh: area average where shrinking, bilinear where enlarging. */
function resize(
  src: Float32Array,
  w: number,
  h: number,
  c: number,
  region: { x: number; y: number; w: number; h: number },
  dw: number,
  dh: number,
): Float32Array {
  const out = new Float32Array(dw * dh * c);
  const sx = region.w / dw;
  const sy = region.h / dh;
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      const at = (y * dw + x) * c;
      if (sx >= 1 && sy >= 1)
        areaSample(
          src,
          w,
          c,
          region.x + x * sx,
          region.x + (x + 1) * sx,
          region.y + y * sy,
          region.y + (y + 1) * sy,
          out,
          at,
        );
      else bilinear(src, w, h, c, region.x + (x + 0.5) * sx, region.y + (y + 0.5) * sy, out, at);
    }
  }
  return out;
}

/** MNIST's framing: the ink's bounding box scaled into box x box, centred by its centre of mass; all zeros when blank. */
function centerOfMass(src: Float32Array, w: number, h: number, c: number, spec: ImagePreprocess): Float32Array {
  const ink = (i: number) => (c === 1 ? src[i] : 0.299 * src[i * 3] + 0.587 * src[i * 3 + 1] + 0.114 * src[i * 3 + 2]);
  let minX = w;
  let minY = h;
  let maxX = -1;
  let maxY = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (ink(y * w + x) > 0.05) {
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
  }
  const out = new Float32Array(spec.width * spec.height * c);
  if (maxX < 0) return out;
  const bw = maxX - minX + 1;
  const bh = maxY - minY + 1;
  const side = spec.box ?? Math.round(Math.min(spec.width, spec.height) * (20 / 28));
  const scale = side / Math.max(bw, bh);
  const boxW = Math.max(1, Math.min(spec.width, Math.round(bw * scale)));
  const boxH = Math.max(1, Math.min(spec.height, Math.round(bh * scale)));
  const box = resize(src, w, h, c, { x: minX, y: minY, w: bw, h: bh }, boxW, boxH);
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < boxH; y++) {
    for (let x = 0; x < boxW; x++) {
      const v =
        c === 1
          ? box[y * boxW + x]
          : 0.299 * box[(y * boxW + x) * 3] + 0.587 * box[(y * boxW + x) * 3 + 1] + 0.114 * box[(y * boxW + x) * 3 + 2];
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  const offX = Math.min(
    Math.max(Math.round(spec.width / 2 - (mass > 0 ? cx / mass : boxW / 2) - 0.5), 0),
    spec.width - boxW,
  );
  const offY = Math.min(
    Math.max(Math.round(spec.height / 2 - (mass > 0 ? cy / mass : boxH / 2) - 0.5), 0),
    spec.height - boxH,
  );
  for (let y = 0; y < boxH; y++) {
    for (let x = 0; x < boxW; x++) {
      for (let k = 0; k < c; k++)
        out[((y + offY) * spec.width + x + offX) * c + k] = Math.min(1, box[(y * boxW + x) * c + k]);
    }
  }
  return out;
}

/**
 * @throws PreprocessInputError 'wrong_kind' when `raw` is not an image, 'bad_image' for inconsistent sizes or non-finite pixels
 */
export function imageFeatures(spec: ImagePreprocess, raw: unknown): Float32Array {
  if (!isRawImage(raw))
    throw new PreprocessInputError(
      'wrong_kind',
      'image',
      'this model reads an image: ImageData, or { data, width, height, channels? }',
    );
  const c = spec.channels;
  const unit = toUnitPixels(raw, c);
  if (spec.invert) for (let i = 0; i < unit.length; i++) unit[i] = 1 - unit[i];
  const framed =
    spec.fit === 'center-of-mass'
      ? centerOfMass(unit, raw.width, raw.height, c, spec)
      : raw.width === spec.width && raw.height === spec.height
        ? unit
        : resize(unit, raw.width, raw.height, c, { x: 0, y: 0, w: raw.width, h: raw.height }, spec.width, spec.height);
  if (spec.mean || spec.std) {
    for (let i = 0; i < framed.length; i++) {
      const k = i % c;
      framed[i] = (framed[i] - (spec.mean?.[k] ?? 0)) / (spec.std?.[k] ?? 1);
    }
  }
  return framed;
}
