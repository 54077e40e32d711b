/**
 * From an RDP curve (orders, rdp) to (epsilon, delta)-DP.
 *
 * `epsilonFromRdp` is the conversion dp_accounting's `compute_epsilon` uses:
 * Balle et al. 2020 ("Hypothesis testing interpretations and Renyi DP",
 * Proposition 12; also Canonne, Kamath, Steinke 2020, eq. 20), plus the KL
 * bound delta <= sqrt(1 - exp(-rdp)) that gives epsilon = 0 for tiny RDP.
 * `classicEpsilonFromRdp` is Mironov 2017's older bound; it is kept only so
 * that published figures computed with it (TF Privacy tutorials before 2020)
 * can be reproduced and told apart from the improved ones.
 */

/** (epsilon, order) from RDP values by the improved conversion (dp_accounting). */
export function epsilonFromRdp(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
): { epsilon: number; order: number } {
  let best = Infinity;
  let bestIndex = 0;
  for (let k = 0; k < orders.length; k++) {
    const a = orders[k];
    const r = rdp[k];
    let epsilon: number;
    if (delta * delta + Math.expm1(-r) > 0) {
      epsilon = 0;
    } else if (a > 1.01) {
      // The bound is numerically unstable as alpha -> 1 (and useless there).
      epsilon = r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1);
    } else {
      epsilon = Infinity;
    }
    // Strict "<" keeps the first minimum, as numpy's argmin does.
    if (epsilon < best || k === 0) {
      best = epsilon;
      bestIndex = k;
    }
  }
  return { epsilon: Math.max(0, best), order: orders[bestIndex] };
}

/** (epsilon, order) by the classic bound eps = min(rdp - log(delta) / (alpha - 1)). */
export function classicEpsilonFromRdp(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
): { epsilon: number; order: number } {
  let best = Infinity;
  let bestIndex = 0;
  for (let k = 0; k < orders.length; k++) {
    const epsilon = rdp[k] - Math.log(delta) / (orders[k] - 1);
    if (epsilon < best || k === 0) {
      best = epsilon;
      bestIndex = k;
    }
  }
  return { epsilon: Math.max(0, best), order: orders[bestIndex] };
}
