/**
 * Structured logs (pino, JSON lines on stdout). Tests pass `level: 'silent'`.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * @example
 * const log = createLogger({ level: 'info' });
 * log.info({ port: 8787 }, 'coordinator listening');
 */
export function createLogger({ level = process.env.FLOCK_LOG_LEVEL ?? 'info' }: { level?: string } = {}): Logger {
  return pino({ name: 'flock', level, base: { pid: process.pid } });
}
