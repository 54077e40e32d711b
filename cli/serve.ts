/**
 * `flock serve`: runs the coordinator on Node until SIGINT/SIGTERM, then
 * stops taking requests, lets rounds in flight finish closing and closes the
 * store. With `--store postgres://...` (or FLOCK_DATABASE_URL) state lives in
 * PostgreSQL, so several processes can serve the same fleet; blobs then go to
 * `bytea` in that database, or to `--data DIR/blobs` when --data is given (a
 * folder every process shares, e.g. NFS).
 *
 * The flags are in serve-command.ts; this file, which loads the whole
 * coordinator, is imported only when `flock serve` runs.
 */
import { serve } from '@hono/node-server';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { currentAggregationBackend } from '../coordinator/aggregation/index.ts';
import { createCoordinator } from '../coordinator/coordinator.ts';
import { createLogger } from '../coordinator/observability/logger.ts';
import { staticSite } from '../coordinator/static/index.ts';
import { seedInboxModel } from '../demo/seed/inbox-seed.ts';
import { seedDemoModel } from '../demo/seed/seed.ts';
import type { CliIo } from './index.ts';
import { BACKENDS } from './serve-command.ts';
import { openServeBackends } from './serve-backends.ts';
import { parseCorsOrigins } from '../coordinator/http/cors.ts';
import { parseDurationFlag } from './duration.ts';
import { UsageError, parseIntegerFlag } from './usage-error.ts';

/** How long an idle keep-alive connection stays open (Node's default, 5 s, races clients that reuse at 4 s). */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface ServeOptions {
  port: string;
  host: string;
  data: string;
  backend: string;
  demo: boolean;
  store?: string;
  poolSize: string;
  blobs?: string;
  corsOrigin: string[];
  telemetryRetention: string;
  signingKeyFile?: string;
}

/** `flock serve`: runs until SIGINT or SIGTERM. */
export async function runServe(opts: ServeOptions, command: Command, io: CliIo): Promise<void> {
  const port = parseIntegerFlag('--port', opts.port, 0);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  if (!(BACKENDS as readonly string[]).includes(opts.backend))
    throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}`);
  const dataGiven = command.getOptionValueSource('data') === 'cli' || Boolean(process.env.FLOCK_DATA);
  const telemetryRetentionMs = parseDurationFlag('--telemetry-retention', opts.telemetryRetention);
  let corsOrigins: string[];
  try {
    corsOrigins = parseCorsOrigins([
      ...(process.env.FLOCK_CORS_ORIGINS ? [process.env.FLOCK_CORS_ORIGINS] : []),
      ...opts.corsOrigin,
    ]);
  } catch (error) {
    throw new UsageError(`--cors-origin: ${(error as Error).message}`);
  }
  const log = createLogger();
  const backends = await openServeBackends(
    { data: opts.data, dataGiven, store: opts.store, poolSize: opts.poolSize, blobs: opts.blobs },
    log,
  );
  let coordinator: Awaited<ReturnType<typeof createCoordinator>>;
  try {
    coordinator = await createCoordinator({
      dataDir: resolve(opts.data),
      log,
      ...(backends.store ? { store: backends.store } : {}),
      ...(backends.events ? { events: backends.events } : {}),
      ...(backends.rateLimitStore ? { rateLimitStore: backends.rateLimitStore } : {}),
      ...(backends.roundSignals ? { roundSignals: backends.roundSignals } : {}),
      adminKey: process.env.FLOCK_ADMIN_KEY || undefined,
      aggregationBackend: opts.backend as (typeof BACKENDS)[number],
      corsOrigins,
      telemetryRetentionMs,
      ...(opts.signingKeyFile ? { signingKeyFile: resolve(opts.signingKeyFile) } : {}),
    });
  } catch (error) {
    await backends.close();
    throw error;
  }
  const site = opts.demo ? staticSite(coordinator.app) : null;
  const server = serve({ fetch: site ? site.app.fetch : coordinator.app.fetch, port, hostname: opts.host });
  // Node closes idle keep-alive sockets after 5 s, about when clients (undici: 4 s) reuse them: under load a
  // request then meets a reset. Keep them longer than any client or load balancer does (AWS ALB: 60 s).
  const http = server as import('node:http').Server;
  http.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  http.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
  await new Promise<void>((ready, fail) => {
    server.once('listening', ready);
    server.once('error', fail);
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const base = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${actualPort}`;
  io.out(`flock coordinator listening on ${base}\n`);
  io.out(
    `  health:   ${base}/healthz\n  openapi:  ${base}/openapi.json\n  metrics:  ${base}/metrics\n  ${backends.description}\n`,
  );
  const aggregation = currentAggregationBackend();
  if (aggregation) io.out(`  aggregate: ${aggregation.name} on ${aggregation.device}\n`);
  io.out(
    `  cors:     ${corsOrigins.length ? `device routes open to ${corsOrigins.join(', ')}` : 'same origin only (--cors-origin ORIGIN to embed the SDK in another site)'}\n`,
  );
  if (site) {
    io.out(`  demo:      ${base}/\n  inbox:     ${base}/inbox/index.html\n  dashboard: ${base}/dashboard\n`);
    if (!site.demoBuilt) io.out('  (the demo is not built: run npm run build:demo, or start with npm start)\n');
    if (!site.sdkBuilt)
      io.out('  (the script-tag SDK is not built: /sdk/flock.min.js answers 404 until npm run build:demo)\n');
  }
  if (coordinator.initialAdminKey) {
    io.out(
      `\nAdmin key (shown once; store it, e.g. export FLOCK_ADMIN_KEY=...):\n  ${coordinator.initialAdminKey}\n\n`,
    );
  } else if (!process.env.FLOCK_ADMIN_KEY) {
    io.out(
      '  admin key: made at the first start and shown once then; pass it as --admin-key or FLOCK_ADMIN_KEY (npx flock admin-key mints a new one to set in FLOCK_ADMIN_KEY)\n',
    );
  }
  let stopping = false;
  if (site) {
    // After listening: the API is up while the seed model trains; the demo page waits for it.
    const progress = (line: string) => io.out(`${line}\n`);
    // A shutdown during the first start's seeding closes the store under it: that is no failure to report.
    const failed = (what: string) => (error: unknown) => {
      if (!stopping) io.err(`seeding the ${what} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    };
    // One after the other: both train on the CPU, and Digits is the page most people open first.
    void seedDemoModel(coordinator, { progress })
      .catch(failed('demo model'))
      .then(() => (stopping ? undefined : seedInboxModel(coordinator, { progress })))
      .catch(failed('inbox model'));
  }
  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      stopping = true;
      io.out(`\n${signal}: shutting down\n`);
      server.close(() => undefined);
      if ('closeAllConnections' in server) server.closeAllConnections();
      void coordinator
        .close()
        .then(() => backends.close())
        .then(done, done);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
