/**
 * The few special functions the RDP accountant needs, in float64 and in log
 * space, accurate to ~1e-14 relative: log-sum of exponentials, log(erfc(x)) far
 * into the tail, log-factorials. JavaScript has none of them built in, and the
 * accountant must agree with dp_accounting (which uses scipy) to 1e-4.
 */

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** log(exp(a) + exp(b)) without overflow; -Infinity stands for log(0). */
export function logAdd(a: number, b: number): number {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  if (lo === -Infinity) return hi;
  return Math.log1p(Math.exp(lo - hi)) + hi;
}

/**
 * log(exp(a) - exp(b)) for a >= b. A difference that rounding made slightly
 * negative is treated as zero (-Infinity) rather than an error.
 */
export function logSub(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (a <= b) return -Infinity;
  const d = Math.expm1(a - b);
  return d === Infinity ? a : Math.log(d) + b;
}

/** erf(x) for |x| < 2 by a series of positive terms (no cancellation). */
function erfSeries(x: number): number {
  const x2 = 2 * x * x;
  let term = 1;
  let sum = 1;
  for (let n = 1; n < 200; n++) {
    term *= x2 / (2 * n + 1);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return TWO_OVER_SQRT_PI * x * Math.exp(-x * x) * sum;
}

/**
 * log of the continued fraction x + (1/2)/(x + 1/(x + (3/2)/(x + ...))), so that
 * erfc(x) = exp(-x^2) / (sqrt(pi) * cf(x)) for x > 0 (modified Lentz).
 * Converges quickly for x >= 2, where it is used.
 */
function logErfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    d = d === 0 ? tiny : d;
    c = x + a / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return Math.log(f);
}

/** log(erfc(x)), accurate in the far right tail where erfc(x) underflows. */
export function logErfc(x: number): number {
  if (x === Infinity) return -Infinity;
  if (x === -Infinity) return Math.LN2;
  if (x >= 2) return -x * x - LOG_SQRT_PI - logErfcContinuedFraction(x);
  if (x > -2) return Math.log1p(-erfSeries(x));
  return Math.log(2 - Math.exp(logErfc(-x)));
}

/** erfc(x) = 1 - erf(x). */
export function erfc(x: number): number {
  return Math.exp(logErfc(x));
}

/** Standard normal CDF Phi(x). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

const logFactorialTable: number[] = [0];

/** log(n!) for a non-negative integer n (table of running sums, grown on demand). */
export function logFactorial(n: number): number {
  for (let k = logFactorialTable.length; k <= n; k++) {
    logFactorialTable.push(logFactorialTable[k - 1] + Math.log(k));
  }
  return logFactorialTable[n];
}

/** log of the binomial coefficient C(n, k) for integers 0 <= k <= n. */
export function logBinomial(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}
