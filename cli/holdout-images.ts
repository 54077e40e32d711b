/**
 * A folder of labelled images for `flock holdout make --from DIR`: one
 * subfolder per label (its name is a spec label or a class index), PNG or
 * JPEG files inside, decoded in plain JavaScript (pngjs, jpeg-js; no native
 * code) to RGBA pixels, which the model's own image preprocessing then reads
 * exactly as it reads a browser's ImageData. Alpha is kept, not composited:
 * the colour channels are what the file stores (a canvas that premultiplies
 * may darken transparent pixels before a page sees them). PNG is lossless,
 * so a page that decodes the same file gets the same pixels; JPEG decoders
 * may differ in rounding (the browser's libjpeg-turbo against jpeg-js).
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { decode as decodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import type { RawImage } from '../shared/preprocess/index.ts';
import { UsageError } from './usage-error.ts';

export interface LabelledImage {
  /** The subfolder's name. */
  label: string;
  /** The file, relative to the folder: `label/name.png`. */
  file: string;
  image: RawImage;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
/** Refuses images past this many pixels (a 64-megapixel decode needs 256 MB of RGBA). */
const MAX_PIXELS = 64 * 1024 * 1024;

/**
 * @throws UsageError naming the file that does not decode
 *
 * @example
 * const { width, height, data } = decodeImage(await readFile('7/a.png'), '7/a.png'); // RGBA, 4 channels
 */
export function decodeImage(bytes: Uint8Array, file: string): RawImage {
  const ext = extname(file).toLowerCase();
  try {
    if (ext === '.png') {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      if (png.width * png.height > MAX_PIXELS) throw new Error(`${png.width}x${png.height} is too large`);
      return { data: new Uint8Array(png.data), width: png.width, height: png.height, channels: 4 };
    }
    const img = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6 });
    return { data: img.data, width: img.width, height: img.height, channels: 4 };
  } catch (error) {
    throw new UsageError(`${file} does not decode as ${ext === '.png' ? 'PNG' : 'JPEG'}: ${(error as Error).message}`);
  }
}

/**
 * Every image under `dir`, subfolders and files in code-point order (so the holdout is the same on every machine).
 * @throws UsageError when the folder has no label subfolders or no images
 *
 * @example
 * for (const { label, image } of await readImageFolder('./digits')) console.log(label, image.width, image.height);
 */
export async function readImageFolder(dir: string): Promise<LabelledImage[]> {
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const labels = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).sort(byName);
  if (labels.length === 0)
    throw new UsageError(`${dir} has no subfolders; put each label's images in a subfolder named for the label`);
  const out: LabelledImage[] = [];
  for (const label of labels) {
    const files = (await readdir(join(dir, label.name), { withFileTypes: true }))
      .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
      .sort(byName);
    for (const f of files) {
      const file = `${label.name}/${f.name}`;
      out.push({ label: label.name, file, image: decodeImage(new Uint8Array(await readFile(join(dir, file))), file) });
    }
  }
  if (out.length === 0) throw new UsageError(`${dir} holds no .png, .jpg or .jpeg files in its label subfolders`);
  return out;
}
