/**
 * `flock admin-key`: mints an admin key for FLOCK_ADMIN_KEY. Only stdout gets
 * the key, so `export FLOCK_ADMIN_KEY=$(flock admin-key)` works; the advice
 * goes to stderr. The coordinator keeps only the key's hash, so this printout
 * is the one copy.
 */
import type { Command } from 'commander';
import { newId, newSecret } from '../coordinator/auth/secrets.ts';
import type { CliIo } from './index.ts';

/**
 * A fresh admin key, `flk_admin_key_<id>.<43 base64url chars>`.
 *
 * @example
 * const key = generateAdminKey(); // parseSecret(key)?.kind === 'admin'
 */
export function generateAdminKey(): string {
  return newSecret('admin', newId('key'));
}

/**
 * Adds the `admin-key` command.
 *
 * @example
 * // FLOCK_ADMIN_KEY=$(flock admin-key) flock serve
 * registerAdminKeyCommand(program, io);
 */
export function registerAdminKeyCommand(program: Command, io: CliIo): void {
  program
    .command('admin-key')
    .description('print a new admin key; give it to the coordinator and the CLI as FLOCK_ADMIN_KEY')
    .action(() => {
      io.out(`${generateAdminKey()}\n`);
      io.err(
        'Keep this key secret. Start the coordinator with it (FLOCK_ADMIN_KEY=... flock serve) and set the same FLOCK_ADMIN_KEY for admin commands.\n',
      );
    });
}
