/**
 * A coordinator that speaks the secure-aggregation wire contract
 * (shared/protocol/secure-aggregation-round.ts) on loopback and lies in one
 * chosen way, for test/integration/secagg-adversarial.test.ts. It serves the
 * round's blobs, answers check-ins with a signed round configuration, runs
 * the phases with a real SecAggServer (closing each phase when every device
 * has sent), and logs every request by device, so a test can assert what the
 * devices sent after the lie.
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { bytesToBase64 } from '../../shared/manifest/bytes.ts';
import { canonicalJsonBytes } from '../../shared/manifest/canonical-json.ts';
import { sha256Hex } from '../../shared/manifest/hash.ts';
import { exportPublicKey as exportSigningKey, generateSigningKeyPair, keyIdOf } from '../../shared/manifest/signing.ts';
import {
  SECAGG_MASKED_HEADER,
  type CheckInSelected,
  type SecAggRoundConfig,
  type SignedSecAggRoundConfig,
  TaskPlanSchema,
} from '../../shared/protocol/index.ts';
import { chooseGranularity, type DdgPlan, planDdg } from '../../shared/secagg/ddg.ts';
import { SecAggDevice } from '../../shared/secagg/device.ts';
import type { ForwardedShares, Roster, ShareKeys, UnmaskRequest } from '../../shared/secagg/messages.ts';
import { safeThreshold } from '../../shared/secagg/parameters.ts';
import { type SecAggResult, SecAggServer } from '../../shared/secagg/server.ts';

export type Lie =
  /** Honest. */
  | 'none'
  /** The unmasking request names one survivor as dropped too (both of its shares). */
  | 'both-shares'
  /** Half the devices get a roster with a Sybil device the coordinator made. */
  | 'split-view'
  /** Every device but the victim gets a roster in which the victim's keys are the coordinator's. */
  | 'swap-keys'
  /** The check-in carries the validly signed configuration of an earlier round. */
  | 'replay'
  /** The configuration is signed by a key the devices do not trust. */
  | 'other-key'
  /** The configuration names global weights other than those the round serves. */
  | 'weights';

export interface LiarOptions {
  lie: Lie;
  deviceIds: readonly string[];
  /** The round's global weights (codec bytes) and topology JSON. */
  weights: Uint8Array;
  topology: Uint8Array;
  dimension: number;
  taskId: string;
  plan: Record<string, unknown>;
}

export interface LiarServer {
  baseUrl: string;
  /** The manifest key the devices should trust (base64 raw Ed25519). */
  publicKey: string;
  config: SecAggRoundConfig;
  ddgPlan: DdgPlan;
  /** `${deviceId} ${method} ${path}` for every request, in arrival order. */
  log: string[];
  /** The unmasked sum, once every survivor answered (null until then, or when unmasking failed). */
  result(): SecAggResult | null;
  close(): Promise<void>;
}

export const ROUND_ID = 'round-2';
export const OLD_ROUND_ID = 'round-1';
export const DDG = { clipNorm: 1, noiseMultiplier: 0, bits: 16, maxDevices: 8, minSurvivors: 3 };

/** The bearer token the liar knows each device by. */
export const tokenOf = (deviceId: string) => `tok-${deviceId}`;
const wait = { status: 'waiting', phase: 'advertise', retryAfterSeconds: 0.02 } as const;

async function sign(config: SecAggRoundConfig, keys: CryptoKeyPair): Promise<SignedSecAggRoundConfig> {
  const signature = await globalThis.crypto.subtle.sign('Ed25519', keys.privateKey, canonicalJsonBytes(config));
  return { config, keyId: await keyIdOf(keys.publicKey), signature: bytesToBase64(new Uint8Array(signature)) };
}

/** Starts the lying coordinator on 127.0.0.1 (a free port). */
export async function startLiarServer(o: LiarOptions): Promise<LiarServer> {
  const keys = await generateSigningKeyPair();
  const strangerKeys = await generateSigningKeyPair();
  const weightsHash = await sha256Hex(o.weights);
  const topologyHash = await sha256Hex(o.topology);
  const granularity = chooseGranularity({ dimension: o.dimension, ...DDG });
  const ddgPlan = planDdg({ dimension: o.dimension, ...DDG, granularity });
  const in60 = (s: number) => new Date(Date.now() + s * 1000).toISOString();
  const config: SecAggRoundConfig = {
    type: 'secagg.round-config',
    version: 1,
    roundId: ROUND_ID,
    taskId: o.taskId,
    roundNumber: 2,
    globalWeightsHash: weightsHash,
    dimension: o.dimension,
    vectorLength: ddgPlan.paddedDimension,
    ddg: { ...DDG, granularity },
    rotationSeed: bytesToBase64(globalThis.crypto.getRandomValues(new Uint8Array(32))),
    graph: { dropoutFraction: 0, colluders: 0 },
    deadlines: { advertiseBy: in60(60), shareBy: in60(90), maskBy: in60(120), unmaskBy: in60(150) },
    issuedAt: new Date().toISOString(),
  };
  const signed =
    o.lie === 'replay'
      ? await sign({ ...config, roundId: OLD_ROUND_ID, roundNumber: 1 }, keys)
      : o.lie === 'other-key'
        ? await sign(config, strangerKeys)
        : o.lie === 'weights'
          ? await sign({ ...config, globalWeightsHash: await sha256Hex(new Uint8Array([1, 2, 3])) }, keys)
          : await sign(config, keys);

  const n = o.deviceIds.length;
  const server = new SecAggServer({
    roundId: ROUND_ID,
    vectorLength: config.vectorLength,
    parameters: (size) => ({ neighbours: size - 1, threshold: safeThreshold(size - 1, 0), colluders: 0 }),
  });
  const byToken = new Map(o.deviceIds.map((id) => [tokenOf(id), id]));
  const log: string[] = [];
  const shared = new Map<string, ShareKeys>();
  let rosters: Map<string, Roster> | null = null;
  let forwarded: Map<string, ForwardedShares> | null = null;
  let advertised = 0;
  let masked = 0;
  let request: UnmaskRequest | null = null;
  let answered = 0;
  let result: SecAggResult | null = null;

  /** The rosters the devices are shown: one honest roster, or the lie's views of it. */
  const makeRosters = async (honest: Roster): Promise<Map<string, Roster>> => {
    const views = new Map(o.deviceIds.map((id) => [id, honest]));
    if (o.lie === 'split-view') {
      const sybil = (await SecAggDevice.create(ROUND_ID, 'device-sybil')).advertisement();
      const { type: _t, roundId: _r, ...entry } = sybil;
      const devices = [...honest.devices, entry].sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
      const wider: Roster = {
        ...honest,
        parameters: { neighbours: n, threshold: safeThreshold(n, 0), colluders: 0 },
        devices,
      };
      for (const id of o.deviceIds.slice(n / 2)) views.set(id, wider);
    }
    if (o.lie === 'swap-keys') {
      const victim = o.deviceIds[0];
      const fake = (await SecAggDevice.create(ROUND_ID, victim)).advertisement();
      const swapped: Roster = {
        ...honest,
        devices: honest.devices.map((d) =>
          d.deviceId === victim
            ? { deviceId: victim, channelPublicKey: fake.channelPublicKey, maskingPublicKey: fake.maskingPublicKey }
            : d,
        ),
      };
      for (const id of o.deviceIds.slice(1)) views.set(id, swapped);
    }
    return views;
  };

  /** Forwards each ciphertext to its addressee, as a coordinator that merely relays would. */
  const forward = (): Map<string, ForwardedShares> =>
    new Map(
      o.deviceIds.map((id) => [
        id,
        {
          type: 'secagg.forwarded-shares',
          roundId: ROUND_ID,
          deviceId: id,
          ciphertexts: [...shared.values()].flatMap((m) =>
            m.ciphertexts.filter((c) => c.to === id).map((c) => ({ from: m.deviceId, ciphertext: c.ciphertext })),
          ),
        },
      ]),
    );

  const app = new Hono<{ Variables: { deviceId: string } }>();
  app.use('*', async (c, next) => {
    const token = c.req.header('authorization')?.replace(/^Bearer /, '') ?? '';
    const deviceId = byToken.get(token) ?? 'anonymous';
    log.push(`${deviceId} ${c.req.method} ${new URL(c.req.url).pathname}`);
    c.set('deviceId', deviceId);
    await next();
  });
  app.get('/v1/blobs/:hash', (c) => {
    const hash = c.req.param('hash');
    const bytes = hash === weightsHash ? o.weights : hash === topologyHash ? o.topology : null;
    return bytes ? c.body(new Uint8Array(bytes), 200, { 'content-type': 'application/octet-stream' }) : c.notFound();
  });
  app.post('/v1/tasks/:taskId/checkin', (c) => {
    const answer: CheckInSelected = {
      status: 'selected',
      roundId: ROUND_ID,
      taskId: o.taskId,
      roundNumber: 2,
      plan: TaskPlanSchema.parse(o.plan),
      globalVersion: 1,
      globalWeights: { hash: weightsHash, size: o.weights.length, encoding: 'fp32' },
      modelTopologyHash: topologyHash,
      deadlineAt: config.deadlines.unmaskBy,
      secureAggregation: signed,
    };
    return c.json(answer);
  });
  const base = '/v1/rounds/:roundId/secagg';
  app.post(`${base}/advertise`, async (c) => {
    server.receiveAdvertisement(await c.req.json());
    if (++advertised === n) rosters = await makeRosters(await server.closeAdvertising());
    return c.json({ status: 'accepted', phase: 'advertise' }, 202);
  });
  app.get(`${base}/roster`, (c) => {
    const view = rosters?.get(c.get('deviceId'));
    return c.json(view ? { status: 'ready', message: view } : wait);
  });
  app.post(`${base}/shares`, async (c) => {
    const message = (await c.req.json()) as ShareKeys;
    shared.set(message.deviceId, message);
    if (o.lie === 'none' || o.lie === 'both-shares') server.receiveShareKeys(message);
    if (shared.size === n) {
      forwarded = forward();
      if (o.lie === 'none' || o.lie === 'both-shares') server.closeSharing();
    }
    return c.json({ status: 'accepted', phase: 'share' }, 202);
  });
  app.get(`${base}/shares`, (c) => {
    const mine = forwarded?.get(c.get('deviceId'));
    return c.json(mine ? { status: 'ready', message: mine } : wait);
  });
  app.put(`${base}/masked`, async (c) => {
    const header = JSON.parse(c.req.header(SECAGG_MASKED_HEADER) ?? 'null');
    const body = new Uint8Array(await c.req.arrayBuffer());
    server.receiveMaskedInput(header, new Uint32Array(body.buffer, body.byteOffset, body.byteLength / 4));
    if (++masked === n) {
      const honest = server.closeMasking();
      request = o.lie === 'both-shares' ? { ...honest, dropped: [honest.survivors[0]] } : honest;
    }
    return c.json({ status: 'accepted', phase: 'mask' }, 202);
  });
  app.get(`${base}/unmask`, (c) => c.json(request ? { status: 'ready', message: request } : wait));
  app.post(`${base}/unmask`, async (c) => {
    server.receiveUnmaskResponse(await c.req.json());
    if (++answered === n) result = await server.finish().catch(() => null);
    return c.json({ status: 'accepted', phase: 'unmask' }, 202);
  });
  app.onError((error, c) => c.json({ error: { code: 'bad_request', message: error.message } }, 400));

  const listening: ServerType = await new Promise((ready) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  return {
    baseUrl: `http://127.0.0.1:${(listening.address() as { port: number }).port}`,
    publicKey: await exportSigningKey(keys.publicKey),
    config,
    ddgPlan,
    log,
    result: () => result,
    close: () => new Promise<void>((done) => listening.close(() => done())),
  };
}
