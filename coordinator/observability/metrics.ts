/**
 * Prometheus metrics for one coordinator instance. Each instance owns its own
 * registry (tests start several coordinators in one process; prom-client's
 * global registry would make them collide).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface CoordinatorMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  updatesAccepted: Counter<'task'>;
  updatesRejected: Counter<'reason'>;
  roundDuration: Histogram<'outcome'>;
  aggregationSeconds: Histogram<'strategy' | 'backend'>;
  openRounds: Gauge;
}

/**
 * Creates a fresh metrics set.
 * @example
 * const metrics = createMetrics();
 * metrics.updatesRejected.inc({ reason: 'non_finite' });
 * const text = await metrics.registry.metrics();
 */
export function createMetrics({ defaultMetrics = true } = {}): CoordinatorMetrics {
  const registry = new Registry();
  if (defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'flock_process_' });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'flock_http_request_duration_seconds',
      help: 'HTTP request latency by route pattern',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    updatesAccepted: new Counter({
      name: 'flock_updates_accepted_total',
      help: 'Model updates accepted (durable) by task',
      labelNames: ['task'],
      registers: [registry],
    }),
    updatesRejected: new Counter({
      name: 'flock_updates_rejected_total',
      help: 'Model updates rejected, by reason (error code)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    roundDuration: new Histogram({
      name: 'flock_round_duration_seconds',
      help: 'Federated round wall time from open to close, by outcome',
      labelNames: ['outcome'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    }),
    aggregationSeconds: new Histogram({
      name: 'flock_aggregation_seconds',
      help: 'Time to finalize a round aggregate',
      labelNames: ['strategy', 'backend'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    openRounds: new Gauge({ name: 'flock_open_rounds', help: 'Rounds currently open', registers: [registry] }),
  };
}
