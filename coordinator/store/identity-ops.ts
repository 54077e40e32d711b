/**
 * Settings, admin keys and devices: who may talk to the coordinator. Secrets
 * (admin keys, device tokens) are stored only as sha256 hashes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { StoreError } from './errors.ts';
import { isUniqueViolation, pageLimit, pageOffset } from './context.ts';
import type { OpsContext } from './context.ts';
import { fromJson, toAdminKey, toDevice, toJson } from './rows.ts';
import type { StoreOps } from './store.ts';
import type { JsonValue } from './types.ts';

/**
 * sha256 hex of a secret (admin key or device token), as stored.
 *
 * @example
 * ```ts
 * await store.createDevice({ deviceId, app, tokenHash: hashSecret(token) });
 * ```
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

type IdentityOps = Pick<
  StoreOps,
  | 'getSetting'
  | 'setSetting'
  | 'setSettingIfAbsent'
  | 'createAdminKey'
  | 'verifyAdminKey'
  | 'listAdminKeys'
  | 'revokeAdminKey'
  | 'createDevice'
  | 'getDevice'
  | 'verifyDeviceToken'
  | 'touchDevice'
  | 'listDevices'
  | 'countDevices'
>;

export function identityOps(ctx: OpsContext): IdentityOps {
  return {
    async getSetting(key) {
      const row = await ctx.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
      return row ? fromJson<JsonValue>(row.value, `settings.${key}`) : null;
    },
    async setSetting(key, value) {
      const text = toJson(value);
      const at = ctx.now();
      await ctx.db
        .insertInto('settings')
        .values({ key, value: text, updated_at: at })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: text, updated_at: at }))
        .execute();
    },
    async setSettingIfAbsent(key, value) {
      return ctx.atomic(async (db) => {
        await db
          .insertInto('settings')
          .values({ key, value: toJson(value), updated_at: ctx.now() })
          .onConflict((oc) => oc.column('key').doNothing())
          .execute();
        const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirstOrThrow();
        return fromJson<JsonValue>(row.value, `settings.${key}`);
      });
    },

    async createAdminKey({ id, keyHash, label }) {
      const row = { id: id ?? ctx.newId(), key_hash: keyHash, label, created_at: ctx.now(), revoked_at: null };
      try {
        await ctx.db.insertInto('admin_keys').values(row).execute();
      } catch (e) {
        if (isUniqueViolation(e))
          throw new StoreError(
            'conflict',
            'An admin key with this id or hash already exists.',
            { id: row.id },
            { cause: e },
          );
        throw e;
      }
      return toAdminKey(row);
    },
    async verifyAdminKey(key) {
      // Looking up by the hash leaks nothing useful through timing: an attacker
      // would have to choose keys by their sha256 prefix.
      const keyHash = hashSecret(key);
      const row = await ctx.db
        .selectFrom('admin_keys')
        .selectAll()
        .where('key_hash', '=', keyHash)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return row && digestsEqual(row.key_hash, keyHash) ? toAdminKey(row) : null;
    },
    async listAdminKeys() {
      const rows = await ctx.db.selectFrom('admin_keys').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map(toAdminKey);
    },
    async revokeAdminKey(id) {
      const r = await ctx.db
        .updateTable('admin_keys')
        .set({ revoked_at: ctx.now() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    async createDevice(input) {
      const at = ctx.now();
      const row = {
        device_id: input.deviceId,
        app: input.app,
        token_hash: input.tokenHash,
        platform: toJson(input.platform ?? {}),
        capabilities: toJson(input.capabilities ?? {}),
        created_at: at,
        last_seen_at: at,
      };
      try {
        await ctx.db.insertInto('devices').values(row).execute();
      } catch (e) {
        if (isUniqueViolation(e))
          throw new StoreError(
            'conflict',
            `Device ${input.deviceId} already exists.`,
            { deviceId: input.deviceId },
            { cause: e },
          );
        throw e;
      }
      return toDevice(row);
    },
    async getDevice(deviceId) {
      const row = await ctx.db.selectFrom('devices').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
      return row ? toDevice(row) : null;
    },
    async verifyDeviceToken(deviceId, token) {
      const row = await ctx.db.selectFrom('devices').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
      if (!row) return null;
      return digestsEqual(row.token_hash, hashSecret(token)) ? toDevice(row) : null;
    },
    async touchDevice(deviceId, at) {
      await ctx.db
        .updateTable('devices')
        .set({ last_seen_at: at ?? ctx.now() })
        .where('device_id', '=', deviceId)
        .execute();
    },
    async listDevices(query = {}) {
      let q = ctx.db.selectFrom('devices').selectAll();
      if (query.app !== undefined) q = q.where('app', '=', query.app);
      const rows = await q
        .orderBy('created_at')
        .orderBy('device_id')
        .limit(pageLimit(query.limit))
        .offset(pageOffset(query.offset))
        .execute();
      return rows.map(toDevice);
    },
    async countDevices(app) {
      const row = await ctx.db
        .selectFrom('devices')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('app', '=', app)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}
