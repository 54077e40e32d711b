/**
 * Device routes of a secure-aggregation round (device token), exactly the
 * contract of shared/protocol/secure-aggregation-round.ts: advertise keys,
 * read the roster, send and fetch shares, put the masked input, read the
 * unmask request and answer it, read the round's counts.
 *
 * Every body is size-capped and validated (zod; 400 validation_failed). The
 * order of refusals: 404 unknown round, 403 a device not selected for it, 400
 * a message naming another round or device, 409 a message in the wrong
 * phase. Once the round aborted, every route answers 200 `aborted` with the
 * reason. The masked input is admitted on its header before a byte of its
 * body is read, and its body must be exactly vectorLength * 4 bytes.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { z } from 'zod';
import { SECAGG_MASKED_HEADER, type SecAggAccepted } from '../../shared/protocol/index.ts';
import {
  AdvertiseKeysSchema,
  MaskedInputSchema,
  ShareKeysSchema,
  UnmaskResponseSchema,
} from '../../shared/secagg/index.ts';
import { deviceOf, requireDevice } from '../auth/middleware.ts';
import type { CoordinatorDeps } from '../deps.ts';
import { ApiError } from '../http/api-error.ts';
import type { Env } from '../http/env.ts';
import { limitBody } from '../http/limits.ts';
import type { SecAggRound } from '../rounds/secure-aggregation/index.ts';

/** Share and unmask messages hold one ciphertext or share per neighbour (k <= 255): well under this. */
export const SECAGG_JSON_BYTES = 1 << 20;

function parseBody<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  throw new ApiError(
    'validation_failed',
    `${what}: ${issues[0] ? `${issues[0].path || '(root)'}: ${issues[0].message}` : 'invalid'}`,
    { issues },
  );
}

async function jsonOf(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new ApiError('bad_request', 'the body is not JSON; send the phase message as application/json');
  }
}

/**
 * Reads exactly `byteLength` bytes into a fresh Uint32Array (little-endian
 * words, as the contract sends them): 413 when the body declares or streams
 * more, 400 when it ends short. The rest of a too-long body is never pulled.
 */
async function readMaskedWords(request: Request, byteLength: number): Promise<Uint32Array> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  const tooLarge = () =>
    new ApiError('payload_too_large', `a masked input of this round is exactly ${byteLength} bytes`, {
      maxBytes: byteLength,
    });
  if (Number.isFinite(declared) && declared > byteLength) throw tooLarge();
  const words = new Uint32Array(byteLength / 4);
  const bytes = new Uint8Array(words.buffer);
  let total = 0;
  const reader = request.body?.getReader();
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total + value.byteLength > byteLength) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge();
      }
      bytes.set(value, total);
      total += value.byteLength;
    }
  }
  if (total !== byteLength)
    throw new ApiError('bad_request', `the masked input has ${total} bytes; this round takes exactly ${byteLength}`);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
    for (let i = 0; i < words.length; i++) words[i] = new DataView(bytes.buffer).getUint32(i * 4, true);
  return words;
}

export function secureAggregationRoutes(deps: CoordinatorDeps) {
  const { rounds, clock } = deps;
  const secAgg = rounds.secureAggregation;
  const app = new Hono<Env>();
  const authenticate = requireDevice({ ...deps.auth });
  // The device routes' '/v1/rounds/*' group authenticates these paths too when both are mounted; authenticate once.
  app.use('/v1/rounds/:roundId/secagg/*', async function secAggDevice(c, next) {
    if (c.get('principal')) return next();
    return authenticate(c, next);
  });
  const jsonLimit = limitBody(SECAGG_JSON_BYTES);
  const accepted = (c: Context, round: SecAggRound) =>
    c.json({ status: 'accepted', phase: round.phase } satisfies SecAggAccepted, 202);

  /** The round and the calling device, after 404 / 403; an aborted round answers `aborted` from here. */
  const open = async (c: Context<Env>) => {
    const device = deviceOf(c.get('principal'));
    const target = await secAgg.target(c.req.param('roundId') ?? '', device.deviceId);
    return { device, ...target };
  };
  const after = async (roundId: string, round: SecAggRound) => {
    // Closing unmasking runs the unmasking and publishes: the device's answer does not wait for it.
    if (round.phase === 'unmask') void secAgg.advance(roundId).catch(() => undefined);
    else await secAgg.advance(roundId);
  };

  return app
    .post('/v1/rounds/:roundId/secagg/advertise', jsonLimit, async (c) => {
      const { device, round, aborted } = await open(c);
      if (!round) return c.json(aborted, 200);
      const message = parseBody(AdvertiseKeysSchema, await jsonOf(c), 'key advertisement');
      round.requireAddressed(message, device.deviceId);
      round.receiveAdvertisement(message);
      await after(round.roundId, round);
      return accepted(c, round);
    })
    .get('/v1/rounds/:roundId/secagg/roster', async (c) => {
      const { device, round, aborted } = await open(c);
      if (!round) return c.json(aborted, 200);
      await secAgg.advance(round.roundId);
      return c.json(round.rosterFor(device.deviceId, clock.now()), 200);
    })
    .post('/v1/rounds/:roundId/secagg/shares', jsonLimit, async (c) => {
      const { device, round, aborted } = await open(c);
      if (!round) return c.json(aborted, 200);
      const message = parseBody(ShareKeysSchema, await jsonOf(c), 'share-keys message');
      round.requireAddressed(message, device.deviceId);
      round.receiveShareKeys(message);
      await after(round.roundId, round);
      return accepted(c, round);
    })
    .get('/v1/rounds/:roundId/secagg/shares', async (c) => {
      const { device, round, aborted } = await open(c);
      if (!round) return c.json(aborted, 200);
      await secAgg.advance(round.roundId);
      return c.json(round.sharesFor(device.deviceId, clock.now()), 200);
    })
    .put('/v1/rounds/:roundId/secagg/masked', async (c) => {
      const { device, round, aborted } = await open(c);
      if (!round) return c.json(aborted, 200);
      const type = c.req.header('content-type') ?? '';
      if (!type.startsWith('application/octet-stream'))
        throw new ApiError('bad_request', 'send the masked input as application/octet-stream (little-endian uint32)');
      const raw = c.req.header(SECAGG_MASKED_HEADER);
      if (raw === undefined || raw.length > 4096)
        throw new ApiError(
          'bad_request',
          `send the masked input's header as ${SECAGG_MASKED_HEADER} (JSON, at most 4 KiB)`,
        );
      let headerJson: unknown;
      try {
        headerJson = JSON.parse(raw);
      } catch {
        throw new ApiError('bad_request', `${SECAGG_MASKED_HEADER} is not JSON`);
      }
      const header = parseBody(MaskedInputSchema, headerJson, 'masked-input header');
      round.requireAddressed(header, device.deviceId);
      // Admission on the header: a refused input is answered before a byte of its body is read.
      const byteLength = round.admitMasked(header);
      let words: Uint32Array | null = null;
      try {
        words = await readMaskedWords(c.req.raw, byteLength);
      } finally {
        round.foldMasked(header, words);
      }
      await after(round.roundId, round);
      return accepted(c, round);
    })
    .get('/v1/rounds/:roundId/secagg/unmask', async (c) => {
      const { device, round, aborted } = await open(c);
      if (!round) return c.json(aborted, 200);
      await secAgg.advance(round.roundId);
      return c.json(round.unmaskRequestFor(device.deviceId, clock.now()), 200);
    })
    .post('/v1/rounds/:roundId/secagg/unmask', jsonLimit, async (c) => {
      const { device, round, aborted } = await open(c);
      if (!round) return c.json(aborted, 200);
      const message = parseBody(UnmaskResponseSchema, await jsonOf(c), 'unmask response');
      round.requireAddressed(message, device.deviceId);
      round.receiveUnmaskResponse(message);
      await after(round.roundId, round);
      return accepted(c, round);
    })
    .get('/v1/rounds/:roundId/secagg/status', async (c) => {
      const roundId = c.req.param('roundId');
      try {
        const { round, aborted } = await open(c);
        if (round) return c.json(round.stats(), 200);
        const stored = await deps.store.getSecAggRoundStats(roundId);
        if (!stored) throw new ApiError('round_not_found', `round ${roundId} has no secure-aggregation figures`);
        return c.json({ ...stored, phase: 'aborted' as const, abortReason: aborted.reason }, 200);
      } catch (error) {
        // A finished round (past the 404 / 403 checks) still shows its figures.
        if (!(error instanceof ApiError && error.code === 'round_closed')) throw error;
        const stored = await deps.store.getSecAggRoundStats(roundId);
        if (!stored) throw new ApiError('round_not_found', `round ${roundId} has no secure-aggregation figures`);
        return c.json(stored, 200);
      }
    });
}
