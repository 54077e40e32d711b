/**
 * Where rate-limit counters live. `memoryRateLimitStore` counts in this
 * process (one coordinator); `openPostgresRateLimitStore` counts in a table
 * every coordinator process on the database shares, so N processes still give
 * a client the limit once, not N times. Both are fixed windows from
 * rate-limiter-flexible: a key's window starts at its first request.
 *
 * Counters are per (key, rate): two limits with different rates on the same
 * key never spend each other's budget, so a route group's limit cannot be
 * drained through another group that happens to use the same key.
 *
 * PostgreSQL outages: the limiter must never take the API down. When a query
 * fails, that request and every other one for the next `retryMs` are counted
 * by an in-memory limiter of this process instead (limited per process, as
 * before), one warning is logged for the outage and one info line when the
 * database answers again. The shared counts resume where the table has them.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';

export interface RateLimit {
  /** Requests allowed per window. */
  limit: number;
  windowMs: number;
}

/** What one request's `consume` decided. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Requests left in the current window after this one. */
  remaining: number;
  /** Milliseconds until the key's window resets (what Retry-After reports). */
  resetMs: number;
}

export interface RateLimitStore {
  readonly kind: 'memory' | 'postgres';
  /** Counts one request for `key` under `rate` and says whether it may go on. Rejects only for an invalid rate. */
  consume(key: string, rate: RateLimit): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

/**
 * Throws a RangeError for a rate no limiter can enforce (limitRate checks at startup).
 * @example assertRateLimit({ limit: 30, windowMs: 60_000 })
 */
export function assertRateLimit(rate: RateLimit): void {
  if (!Number.isInteger(rate.limit) || rate.limit < 1)
    throw new RangeError(`a rate limit needs a positive integer limit, got ${rate.limit}`);
  if (!Number.isFinite(rate.windowMs) || rate.windowMs <= 0)
    throw new RangeError(`a rate limit needs a positive windowMs, got ${rate.windowMs}`);
}

/** Namespaces counters by rate (see the module comment). */
const ratePrefix = (rate: RateLimit): string => `${rate.limit}/${rate.windowMs}`;

function decision(allowed: boolean, res: RateLimiterRes): RateLimitDecision {
  return { allowed, remaining: res.remainingPoints, resetMs: Math.max(0, res.msBeforeNext) };
}

/** Limiters rejected with a RateLimiterRes mean "over the limit"; anything else is a store failure. */
async function consumeWith(limiter: RateLimiterMemory | RateLimiterPostgres, key: string): Promise<RateLimitDecision> {
  try {
    return decision(true, await limiter.consume(key));
  } catch (e) {
    if (e instanceof RateLimiterRes) return decision(false, e);
    throw e;
  }
}

function memoryLimiterCache(): (rate: RateLimit) => RateLimiterMemory {
  const limiters = new Map<string, RateLimiterMemory>();
  return (rate) => {
    const id = ratePrefix(rate);
    let limiter = limiters.get(id);
    if (!limiter) {
      assertRateLimit(rate);
      limiter = new RateLimiterMemory({ points: rate.limit, duration: rate.windowMs / 1000, keyPrefix: id });
      limiters.set(id, limiter);
    }
    return limiter;
  };
}

/**
 * Counters in this process: the default for a single coordinator.
 *
 * @example
 * const limits = memoryRateLimitStore();
 * const d = await limits.consume('ip:10.0.0.7', { limit: 30, windowMs: 60_000 });
 * if (!d.allowed) console.log(`retry in ${Math.ceil(d.resetMs / 1000)} s`);
 */
export function memoryRateLimitStore(): RateLimitStore {
  const limiterFor = memoryLimiterCache();
  return {
    kind: 'memory',
    consume: async (key, rate) => consumeWith(limiterFor(rate), key),
    close: async () => undefined,
  };
}

export interface PostgresRateLimitStoreOptions {
  /** A pool to share (it is not ended on close); or give `connectionString`. */
  pool?: pg.Pool;
  /** Opens a pool of `poolSize` connections of its own, ended on close. */
  connectionString?: string;
  /** Connections of the store's own pool; 2 by default (each consume is one short upsert). */
  poolSize?: number;
  /** Default 'flock_rate_limits'; letters, digits and underscores. */
  tableName?: string;
  /** After a failed query, count in memory this long before trying PostgreSQL again; 5 s by default. */
  retryMs?: number;
  /** How often expired rows are deleted; 5 min by default. */
  sweepIntervalMs?: number;
  /** Where outage warnings go; a pino Logger fits. */
  log?: RateLimitLog;
}

/** The two log levels the store uses (a pino Logger is one). */
export interface RateLimitLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export interface PostgresRateLimitStore extends RateLimitStore {
  readonly kind: 'postgres';
  /** Deletes rows whose window has ended; returns how many. Runs every `sweepIntervalMs` on its own. */
  sweepExpired(): Promise<number>;
}

/** The advisory lock that serializes table creation across processes starting together. */
const TABLE_LOCK = 'flock-rate-limits:';
/** rate-limiter-flexible's key column is varchar(255); longer keys are hashed. */
const MAX_KEY_CHARS = 200;

async function ensureTable(pool: pg.Pool, table: string): Promise<void> {
  // CREATE TABLE IF NOT EXISTS alone races: two at once can both fail on the catalog's unique index.
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock(hashtext($1))', [TABLE_LOCK + table]);
    // The columns rate-limiter-flexible's RateLimiterPostgres reads and writes, plus an index for the sweep.
    await client.query(
      `create table if not exists "${table}" (key varchar(255) primary key, points integer not null default 0, expire bigint)`,
    );
    await client.query(`create index if not exists "${table}_expire" on "${table}" (expire)`);
    await client.query('commit');
  } catch (e) {
    await client.query('rollback').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/**
 * Counters shared by every process on one PostgreSQL database: each request
 * is one atomic upsert (`insert ... on conflict do update ... returning`), so
 * concurrent requests from several processes are counted exactly. A key that
 * went over its limit is then refused from this process's memory until its
 * window ends, without further queries. Window ends are absolute times from
 * each process's clock, so keep the clocks in step (NTP).
 * Creating the table is safe when processes start together (advisory lock);
 * an unreachable database does not make opening fail (see the module comment).
 *
 * @example
 * const limits = await openPostgresRateLimitStore({ connectionString: process.env.FLOCK_DATABASE_URL!, log });
 * const flock = await createCoordinator({ dataDir, store, rateLimitStore: limits });
 */
export async function openPostgresRateLimitStore(
  options: PostgresRateLimitStoreOptions,
): Promise<PostgresRateLimitStore> {
  const table = options.tableName ?? 'flock_rate_limits';
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(table))
    throw new RangeError(`tableName must be lowercase letters, digits and underscores, got "${table}"`);
  if (!options.pool && !options.connectionString)
    throw new RangeError('openPostgresRateLimitStore needs a pool or a connectionString');
  const poolSize = options.poolSize ?? 2;
  if (!Number.isInteger(poolSize) || poolSize < 1)
    throw new RangeError(`poolSize must be a positive integer, got ${poolSize}`);
  const retryMs = options.retryMs ?? 5_000;
  const log = options.log;
  const ownPool = !options.pool;
  const pool =
    options.pool ??
    new pg.Pool({
      connectionString: options.connectionString,
      max: poolSize,
      application_name: 'flock-rate-limits',
      // Fail fast so an unreachable database costs a request little before the in-memory fallback answers.
      connectionTimeoutMillis: 2_000,
      query_timeout: 2_000,
    });
  // An idle client can lose its server; the next query reconnects, so do not crash the process.
  if (ownPool) pool.on('error', () => undefined);

  const memoryFor = memoryLimiterCache();
  const shared = new Map<string, RateLimiterPostgres>();
  const sharedFor = (rate: RateLimit): RateLimiterPostgres => {
    const id = ratePrefix(rate);
    let limiter = shared.get(id);
    if (!limiter) {
      assertRateLimit(rate);
      limiter = new RateLimiterPostgres({
        storeClient: pool,
        storeType: 'pool',
        tableName: table,
        tableCreated: true,
        // Our own sweep runs instead: the library's timer is never cleared, so it would outlive close().
        clearExpiredByTimeout: false,
        points: rate.limit,
        duration: rate.windowMs / 1000,
        keyPrefix: id,
        inMemoryBlockOnConsumed: rate.limit + 1,
      });
      shared.set(id, limiter);
    }
    return limiter;
  };

  let tableReady: Promise<void> | undefined;
  let useDatabaseAt = 0;
  let degraded = false;
  const fallBack = (e: unknown) => {
    useDatabaseAt = Date.now() + retryMs;
    if (degraded) return;
    degraded = true;
    log?.warn(
      { err: (e as Error).message, table, retryMs },
      'rate limits: PostgreSQL failed; counting in this process only (limits are per process) until it answers again',
    );
  };
  const recovered = () => {
    if (!degraded) return;
    degraded = false;
    log?.info({ table }, 'rate limits: PostgreSQL answers again; counts are shared across processes');
  };
  const prepare = (): Promise<void> => {
    tableReady ??= ensureTable(pool, table).catch((e: unknown) => {
      tableReady = undefined;
      throw e;
    });
    return tableReady;
  };
  await prepare().catch(fallBack);

  const sweepExpired = async (): Promise<number> => {
    const res = await pool.query(`delete from "${table}" where expire < $1`, [Date.now()]);
    return res.rowCount ?? 0;
  };
  const sweeper = setInterval(() => void sweepExpired().catch(() => undefined), options.sweepIntervalMs ?? 300_000);
  sweeper.unref();

  return {
    kind: 'postgres',
    async consume(key, rate) {
      const stored = key.length > MAX_KEY_CHARS ? `sha256:${createHash('sha256').update(key).digest('hex')}` : key;
      if (Date.now() >= useDatabaseAt) {
        try {
          await prepare();
          const d = await consumeWith(sharedFor(rate), stored);
          recovered();
          return d;
        } catch (e) {
          if (e instanceof RangeError) throw e;
          fallBack(e);
        }
      }
      return consumeWith(memoryFor(rate), stored);
    },
    sweepExpired,
    async close() {
      clearInterval(sweeper);
      if (ownPool) await pool.end();
    },
  };
}
