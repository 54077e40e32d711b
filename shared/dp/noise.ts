/**
 * Gaussian noise for DP, from the platform CSPRNG (`crypto.getRandomValues`,
 * present in browsers, workers and Node >= 20), never Math.random.
 *
 * Box-Muller in float64 on 53-bit uniforms, fetched in 64 KiB batches (the most
 * getRandomValues gives per call), so that noising a 1M-parameter sum takes
 * milliseconds. Why a continuous Gaussian and not the discrete one of Canonne,
 * Kamath and Steinke: see README.md in this folder.
 */
import { DpParameterError, requireFinite } from './parameter-error.ts';

/** 16384 uint32 = 65536 bytes: the per-call limit of getRandomValues. */
const POOL_WORDS = 16384;
const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;

function secureRandom(): Crypto {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (!c || typeof c.getRandomValues !== 'function') {
    throw new Error('crypto.getRandomValues is unavailable: DP noise needs a CSPRNG (Node >= 20 or a browser)');
  }
  return c;
}

function requireStddev(noiseStddev: number): void {
  requireFinite('noiseStddev', noiseStddev);
  if (noiseStddev < 0) throw new DpParameterError('noiseStddev', `must be >= 0, got ${noiseStddev}`);
}

/**
 * Writes (or adds, when `accumulate`) noiseStddev * N(0, 1) samples into `out`.
 * Each pair of normals uses four 32-bit words: two 53-bit uniforms u1 in (0, 1]
 * (so log(u1) is finite) and u2 in [0, 1).
 */
function writeGaussian(out: Float32Array, noiseStddev: number, accumulate: boolean): void {
  if (noiseStddev === 0 || out.length === 0) return;
  const crypto = secureRandom();
  const pool = new Uint32Array(POOL_WORDS);
  let word = POOL_WORDS;
  for (let i = 0; i < out.length; i += 2) {
    if (word + 4 > POOL_WORDS) {
      crypto.getRandomValues(pool);
      word = 0;
    }
    const u1 = ((pool[word] >>> 5) * TWO_POW_26 + (pool[word + 1] >>> 6) + 1) / TWO_POW_53;
    const u2 = ((pool[word + 2] >>> 5) * TWO_POW_26 + (pool[word + 3] >>> 6)) / TWO_POW_53;
    word += 4;
    const radius = noiseStddev * Math.sqrt(-2 * Math.log(u1));
    const angle = 2 * Math.PI * u2;
    const z0 = radius * Math.cos(angle);
    if (accumulate) out[i] += z0;
    else out[i] = z0;
    if (i + 1 < out.length) {
      const z1 = radius * Math.sin(angle);
      if (accumulate) out[i + 1] += z1;
      else out[i + 1] = z1;
    }
  }
}

/**
 * `length` independent samples of N(0, noiseStddev^2). Note the unit: a
 * standard deviation, not a variance (for DP-FedAvg, noiseStddev =
 * noiseMultiplier * clipNorm, divided by the number of clients if the sum is averaged).
 *
 * @example
 * const noise = gaussianNoise(1_000_000, 0.8 * 1.0); // noiseMultiplier 0.8, clipNorm 1
 */
export function gaussianNoise(length: number, noiseStddev: number): Float32Array {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new DpParameterError('length', `must be an integer >= 0, got ${String(length)}`);
  }
  requireStddev(noiseStddev);
  const out = new Float32Array(length);
  writeGaussian(out, noiseStddev, false);
  return out;
}

/**
 * Adds N(0, noiseStddev^2) noise to every element of `target`, in place.
 *
 * @example
 * const sum = new Float32Array(update.length); // ... summed clipped updates
 * addGaussianNoise(sum, noiseMultiplier * clipNorm);
 */
export function addGaussianNoise(target: Float32Array, noiseStddev: number): void {
  requireStddev(noiseStddev);
  writeGaussian(target, noiseStddev, true);
}
