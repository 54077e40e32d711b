/**
 * Who is calling: `requireAdmin` and `requireDevice` read the bearer secret,
 * check it against the store and set `principal`. A device token on an admin
 * route is a 403 (authenticated, not allowed), a missing or wrong secret a 401.
 */
import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../http/api-error.ts';
import type { Env, Principal } from '../http/env.ts';
import type { Store } from '../store/index.ts';
import { parseSecret, secretMatches } from './secrets.ts';

function bearer(header: string | undefined): string {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  if (!match)
    throw new ApiError('unauthorized', 'missing credentials: send "Authorization: Bearer <token or admin key>"');
  return match[1];
}

async function resolve(store: Store, secret: string, envAdminKeyHash: string | null): Promise<Principal | null> {
  const parsed = parseSecret(secret);
  if (!parsed) return null;
  if (parsed.kind === 'admin') {
    if (envAdminKeyHash && secretMatches(secret, envAdminKeyHash)) return { kind: 'admin', keyId: 'env' };
    const key = await store.verifyAdminKey(secret);
    return key ? { kind: 'admin', keyId: key.id } : null;
  }
  const device = await store.verifyDeviceToken(parsed.ownerId, secret);
  return device ? { kind: 'device', deviceId: device.deviceId, app: device.app } : null;
}

export interface AuthOptions {
  store: Store;
  /** sha256 of FLOCK_ADMIN_KEY when set. */
  envAdminKeyHash: string | null;
}

/** Admin routes: an admin key, nothing else. */
export const requireAdmin = (options: AuthOptions): MiddlewareHandler<Env> =>
  async function requireAdmin(c, next) {
    const principal = await resolve(options.store, bearer(c.req.header('authorization')), options.envAdminKeyHash);
    if (!principal) throw new ApiError('unauthorized', 'unknown or revoked credentials');
    if (principal.kind !== 'admin')
      throw new ApiError('forbidden', 'this route needs an admin key; device tokens cannot call admin routes');
    c.set('principal', principal);
    await next();
  };

/** Device routes: a device token (admins may read too when `allowAdmin`). */
export const requireDevice = (options: AuthOptions & { allowAdmin?: boolean }): MiddlewareHandler<Env> =>
  async function requireDevice(c, next) {
    const principal = await resolve(options.store, bearer(c.req.header('authorization')), options.envAdminKeyHash);
    if (!principal) throw new ApiError('unauthorized', 'unknown device token; register again with POST /v1/devices');
    if (principal.kind === 'admin' && !options.allowAdmin)
      throw new ApiError('forbidden', 'this route is for devices; use a device token');
    c.set('principal', principal);
    await next();
  };

/** The calling device, for handlers behind `requireDevice`. */
export function deviceOf(principal: Principal | undefined): { deviceId: string; app: string } {
  if (principal?.kind !== 'device') throw new ApiError('forbidden', 'this route is for devices; use a device token');
  return principal;
}

/** Audit actor string of a principal. */
export function actorOf(principal: Principal | undefined): string {
  if (!principal) return 'anonymous';
  return principal.kind === 'admin' ? `admin:${principal.keyId}` : `device:${principal.deviceId}`;
}
