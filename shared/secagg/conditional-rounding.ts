/**
 * Conditional randomised rounding (Kairouz, Liu, Steinke, ICML 2021,
 * Section 4): each coordinate goes to floor(x) + 1 with probability
 * x - floor(x) (unbiased), and the whole vector is drawn again until its L2
 * norm is within
 *
 *   bound^2 = min( c^2 + d/4 + sqrt(2 ln(1/beta)) (c + sqrt(d)/2),  (c + sqrt(d))^2 )
 *
 * for an input of norm <= c in d coordinates, which one draw meets with
 * probability >= 1 - beta. That bound is then the L2 sensitivity the
 * accountant charges (the second term holds for every draw: each coordinate
 * moves by less than 1). Coins come from crypto.getRandomValues.
 *
 * @example
 * const bound = roundingNormBound(scaledClipNorm, y.length, Math.exp(-0.5));
 * const z = roundConditionally(y, bound); // Float64Array of integers, ||z|| <= bound
 */
import { CryptoUniform } from '../dp/crypto-uniform.ts';
import { SecAggError } from './secagg-error.ts';

/** beta of Kairouz et al.: the chance one rounding draw misses the bound. Theirs: e^-0.5 (~2.5 draws at worst). */
export const DEFAULT_ROUNDING_BETA = Math.exp(-0.5);

/** Draws before giving up: at beta = e^-0.5 all of them miss with probability < 1e-200. */
const MAX_DRAWS = 1000;

/** The norm bound above, for an input of L2 norm <= scaledClipNorm in `dimension` coordinates. */
export function roundingNormBound(scaledClipNorm: number, dimension: number, beta = DEFAULT_ROUNDING_BETA): number {
  if (!(scaledClipNorm >= 0 && Number.isFinite(scaledClipNorm)))
    throw new SecAggError('bad-parameters', `scaled clip norm must be finite and >= 0, got ${scaledClipNorm}`);
  if (!(beta > 0 && beta < 1)) throw new SecAggError('bad-parameters', `beta must be in (0, 1), got ${beta}`);
  const c = scaledClipNorm;
  const rootD = Math.sqrt(dimension);
  const concentrated = c * c + dimension / 4 + Math.sqrt(2 * Math.log(1 / beta)) * (c + rootD / 2);
  return Math.sqrt(Math.min(concentrated, (c + rootD) ** 2));
}

/** Rounds `x` coordinate-wise, unbiased, redrawing until ||result||_2 <= normBound; throws after 1000 misses. */
export function roundConditionally(x: Float64Array, normBound: number): Float64Array {
  const u = new CryptoUniform();
  const out = new Float64Array(x.length);
  const limit = normBound * normBound;
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    let sq = 0;
    for (let i = 0; i < x.length; i++) {
      const low = Math.floor(x[i]);
      // A 53-bit uniform in [0, 1) against the fractional part.
      const unit = ((u.word() >>> 5) * 67108864 + (u.word() >>> 6)) / 9007199254740992;
      const v = unit < x[i] - low ? low + 1 : low;
      out[i] = v;
      sq += v * v;
    }
    if (sq <= limit) return out;
  }
  throw new SecAggError(
    'bad-parameters',
    `randomised rounding missed the norm bound ${normBound} ${MAX_DRAWS} times: the input is larger than the clip norm it was planned for`,
  );
}
