/**
 * `flock serve`: runs the coordinator on Node until SIGINT/SIGTERM, then
 * stops taking requests, lets rounds in flight finish closing and closes the
 * store.
 */
import { serve } from '@hono/node-server';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { createCoordinator } from '../coordinator.ts';
import type { CliIo } from './index.ts';
import { UsageError, parseIntegerFlag } from './usage-error.ts';

export interface ServeOptions {
  port: string;
  host: string;
  data: string;
  backend: string;
}

const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('run the coordinator (SQLite + blob folder in --data, created on first start)')
    .option('--port <port>', 'TCP port', process.env.FLOCK_PORT ?? '8787')
    .option('--host <host>', 'interface to listen on', process.env.FLOCK_HOST ?? '127.0.0.1')
    .option('--data <dir>', 'data directory', process.env.FLOCK_DATA ?? './.flock')
    .option('--backend <name>', `aggregation backend: ${BACKENDS.join(', ')}`, 'auto')
    .addHelpText('after', '\nEnvironment: FLOCK_ADMIN_KEY (accept this admin key), FLOCK_LOG_LEVEL (info|debug|warn|silent)')
    .action(async (opts: ServeOptions) => {
      const port = parseIntegerFlag('--port', opts.port, 0);
      if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
      if (!(BACKENDS as readonly string[]).includes(opts.backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}`);
      const coordinator = await createCoordinator({
        dataDir: resolve(opts.data),
        adminKey: process.env.FLOCK_ADMIN_KEY || undefined,
        aggregationBackend: opts.backend as (typeof BACKENDS)[number],
      });
      const server = serve({ fetch: coordinator.app.fetch, port, hostname: opts.host });
      await new Promise<void>((ready, fail) => {
        server.once('listening', ready);
        server.once('error', fail);
      });
      const address = server.address();
      const actualPort = typeof address === 'object' && address ? address.port : port;
      const base = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${actualPort}`;
      io.out(`flock coordinator listening on ${base}\n`);
      io.out(`  health:   ${base}/healthz\n  openapi:  ${base}/openapi.json\n  metrics:  ${base}/metrics\n  data dir: ${resolve(opts.data)}\n`);
      if (coordinator.initialAdminKey) {
        io.out(`\nAdmin key (shown once; store it, e.g. export FLOCK_ADMIN_KEY=...):\n  ${coordinator.initialAdminKey}\n\n`);
      }
      await new Promise<void>((done) => {
        const stop = (signal: string) => {
          io.out(`\n${signal}: shutting down\n`);
          server.close(() => undefined);
          if ('closeAllConnections' in server) (server as unknown as { closeAllConnections(): void }).closeAllConnections();
          void coordinator.close().then(done, done);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
