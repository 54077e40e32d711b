/**
 * The RDP privacy accountant: composes DP events into an RDP curve over a
 * fixed set of orders and converts it to (epsilon, delta), with the defaults,
 * event semantics and conversion of Google's dp_accounting `RdpAccountant`.
 * RDP composes by addition, so composition over steps and over heterogeneous
 * events (different q or sigma per round) is a sum per order.
 */
import { epsilonFromRdp } from './conversion.ts';
import {
  DpParameterError,
  requireDelta,
  requireInteger,
  requireNoiseMultiplier,
  requireSamplingRate,
} from './parameter-error.ts';
import { rdpPoissonSubsampledGaussian } from './rdp.ts';
import {
  type DistributedDiscreteGaussian,
  rdpDistributedDiscreteGaussian,
  requireDdg,
} from './rdp-distributed-discrete-gaussian.ts';

/**
 * dp_accounting's DEFAULT_RDP_ORDERS: 1.1, 1.2, ..., 10.9, then 11..63, then
 * 128, 256, 512, 1024 (computed as `1 + x / 10` exactly as there).
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, k) => 1 + (k + 1) / 10),
  ...Array.from({ length: 53 }, (_, k) => 11 + k),
  128,
  256,
  512,
  1024,
]);

/**
 * One private release: a Gaussian mechanism, optionally on a Poisson sample,
 * or the distributed discrete Gaussian sum of secure aggregation (charged by
 * Kairouz, Liu, Steinke 2021, Proposition 14; see rdp-distributed-discrete-gaussian.ts).
 */
export type DpEvent =
  | { kind: 'poisson-sampled-gaussian'; samplingRate: number; noiseMultiplier: number }
  | { kind: 'gaussian'; noiseMultiplier: number }
  | ({ kind: 'distributed-discrete-gaussian' } & DistributedDiscreteGaussian);

function validateOrders(orders: readonly number[]): void {
  if (!Array.isArray(orders) || orders.length === 0) {
    throw new DpParameterError('orders', 'must be a non-empty array of RDP orders');
  }
  for (const order of orders) {
    if (typeof order !== 'number' || Number.isNaN(order) || order < 1) {
      throw new DpParameterError('orders', `every order must be a number >= 1, got ${String(order)}`);
    }
  }
}

function eventRdp(event: DpEvent, order: number): number {
  if (event.kind === 'distributed-discrete-gaussian') return rdpDistributedDiscreteGaussian(event, order);
  if (event.kind === 'gaussian') return rdpPoissonSubsampledGaussian(1, event.noiseMultiplier, order);
  return rdpPoissonSubsampledGaussian(event.samplingRate, event.noiseMultiplier, order);
}

function validateEvent(event: DpEvent): void {
  if (event.kind === 'distributed-discrete-gaussian') {
    requireDdg(event);
    return;
  }
  if (event.kind === 'poisson-sampled-gaussian') {
    // q = 0 is allowed here, as in dp_accounting: a round that sampled nobody costs nothing.
    if (event.samplingRate !== 0) requireSamplingRate(event.samplingRate);
  } else if (event.kind !== 'gaussian') {
    throw new DpParameterError('event.kind', `unknown DP event kind ${String((event as { kind: unknown }).kind)}`);
  }
  requireNoiseMultiplier(event.noiseMultiplier);
}

/**
 * Accumulates RDP over composed events.
 *
 * @example
 * const accountant = new RdpAccountant()
 *   .compose({ kind: 'poisson-sampled-gaussian', samplingRate: 0.01, noiseMultiplier: 1.1 }, 1000);
 * accountant.getEpsilon(1e-5); // epsilon after 1000 steps
 */
export class RdpAccountant {
  private readonly orders: number[];
  private readonly rdp: number[];

  constructor(orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    validateOrders(orders);
    this.orders = [...orders];
    this.rdp = new Array<number>(orders.length).fill(0);
  }

  /** Adds `count` (default 1) independent runs of `event`. */
  compose(event: DpEvent, count = 1): this {
    validateEvent(event);
    requireInteger('count', count, 0);
    if (count === 0) return this;
    for (let k = 0; k < this.orders.length; k++) {
      this.rdp[k] += count * eventRdp(event, this.orders[k]);
    }
    return this;
  }

  /** Smallest epsilon such that everything composed so far is (epsilon, delta)-DP. */
  getEpsilon(delta: number): number {
    return this.getEpsilonAndOrder(delta).epsilon;
  }

  /** Epsilon and the RDP order that attains it (an order at the edge of the set hints the set is too narrow). */
  getEpsilonAndOrder(delta: number): { epsilon: number; order: number } {
    requireDelta(delta);
    return epsilonFromRdp(this.orders, this.rdp, delta);
  }

  /**
   * The state, for storing a task's spent budget. Infinite RDP (zero noise)
   * becomes `null` under JSON.stringify; `fromJSON` reads that back as Infinity.
   */
  toJSON(): { orders: number[]; rdp: number[] } {
    return { orders: [...this.orders], rdp: [...this.rdp] };
  }

  /** Restores an accountant saved with `toJSON` (validated: it may come from storage). */
  static fromJSON(state: { orders: number[]; rdp: number[] }): RdpAccountant {
    if (!state || !Array.isArray(state.orders) || !Array.isArray(state.rdp)) {
      throw new DpParameterError('state', 'must be { orders: number[]; rdp: number[] }');
    }
    if (state.orders.length !== state.rdp.length) {
      throw new DpParameterError('state', 'orders and rdp must have the same length');
    }
    const accountant = new RdpAccountant(state.orders);
    state.rdp.forEach((value: number | null, k) => {
      const r = value === null ? Infinity : value;
      if (typeof r !== 'number' || Number.isNaN(r) || r < 0) {
        throw new DpParameterError('state.rdp', `every RDP value must be >= 0, got ${String(value)}`);
      }
      accountant.rdp[k] = r;
    });
    return accountant;
  }
}

/**
 * Epsilon of `steps` rounds of the Poisson-subsampled Gaussian mechanism
 * (DP-SGD / DP-FedAvg), as TF Privacy's compute_dp_sgd_privacy reports it.
 *
 * @example
 * computeEpsilon({ samplingRate: 256 / 60000, noiseMultiplier: 1.1, steps: 14063, delta: 1e-5 });
 * // { epsilon: ~2.7, order: ... }
 */
export function computeEpsilon(p: {
  samplingRate: number;
  noiseMultiplier: number;
  steps: number;
  delta: number;
  orders?: readonly number[];
}): { epsilon: number; order: number } {
  requireSamplingRate(p.samplingRate);
  requireNoiseMultiplier(p.noiseMultiplier);
  requireInteger('steps', p.steps, 1);
  requireDelta(p.delta);
  return new RdpAccountant(p.orders ?? DEFAULT_RDP_ORDERS)
    .compose(
      { kind: 'poisson-sampled-gaussian', samplingRate: p.samplingRate, noiseMultiplier: p.noiseMultiplier },
      p.steps,
    )
    .getEpsilonAndOrder(p.delta);
}
