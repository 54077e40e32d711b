/**
 * `flock serve`: its flags and help. The action loads serve.ts, and with it
 * the coordinator, tfjs and the store, only when the command runs.
 */
import type { Command } from 'commander';
import type { CliIo } from './index.ts';
import type { ServeOptions } from './serve.ts';

function collectOrigin(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The aggregation backends `--backend` accepts. */
export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('run the coordinator (SQLite + blob folder in --data, created on first start)')
    .option('--port <port>', 'TCP port', process.env.FLOCK_PORT ?? '8787')
    .option('--host <host>', 'interface to listen on', process.env.FLOCK_HOST ?? '127.0.0.1')
    .option('--data <dir>', 'data directory', process.env.FLOCK_DATA ?? './.flock')
    .option('--backend <name>', `aggregation backend: ${BACKENDS.join(', ')}`, 'auto')
    .option('--no-demo', 'API only: do not serve the Digits demo, the dashboard and /sdk, nor seed the demo model')
    .option(
      '--store <url>',
      'keep state in PostgreSQL (postgres://...) instead of SQLite in --data; several processes may share it',
      process.env.FLOCK_DATABASE_URL,
    )
    .option('--pool-size <n>', 'PostgreSQL connections per process', process.env.FLOCK_DB_POOL_SIZE ?? '10')
    .option(
      '--blobs <where>',
      'where blobs live: folder (DATA/blobs), bytea (with --store) or s3://bucket/prefix',
      process.env.FLOCK_BLOBS,
    )
    .option(
      '--telemetry-retention <duration>',
      'delete device telemetry older than this (e.g. 30d, 12h)',
      process.env.FLOCK_TELEMETRY_RETENTION ?? '30d',
    )
    .option(
      '--signing-key-file <path>',
      'the manifest signing key (a 0600 file, made on first start; default DATA/manifest-signing-key.json); every process sharing a --store needs the same one',
      process.env.FLOCK_SIGNING_KEY_FILE,
    )
    .option(
      '--cors-origin <origin>',
      'let pages of this origin call the device routes (repeatable; default: same origin only; admin routes never)',
      collectOrigin,
      [] as string[],
    )
    .addHelpText(
      'after',
      '\nEnvironment: FLOCK_ADMIN_KEY (accept this admin key), FLOCK_LOG_LEVEL (info|debug|warn|silent),\n  FLOCK_DATABASE_URL (as --store), FLOCK_DB_POOL_SIZE (as --pool-size),\n  FLOCK_BLOBS (as --blobs), FLOCK_CORS_ORIGINS (comma-separated, as --cors-origin),\n  FLOCK_TELEMETRY_RETENTION (as --telemetry-retention), FLOCK_SIGNING_KEY_FILE (as --signing-key-file); for s3:// blobs FLOCK_S3_ENDPOINT (S3-compatible servers), FLOCK_S3_REGION,\n  FLOCK_S3_FORCE_PATH_STYLE and the AWS SDK credential chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, roles).\nWith --store, blobs are stored in the database (bytea) unless --data or --blobs says otherwise;\n  a folder must then be shared by all processes.',
    )
    .action(async (opts: ServeOptions, command: Command) => (await import('./serve.ts')).runServe(opts, command, io));
}
