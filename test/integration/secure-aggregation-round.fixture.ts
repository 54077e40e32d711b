/**
 * Test support: devices that run a secure-aggregation round over real HTTP
 * with the protocol core (shared/secagg SecAggDevice + encodeDdg), the way
 * the SDK will, and a scan for a vector's bytes in stored data. Builds
 * requests and reads answers only; the assertions stay in the tests.
 */
import { base64ToBytes } from '../../shared/manifest/index.ts';
import {
  SECAGG_MASKED_HEADER,
  type CheckInSelected,
  type SecAggRoundConfig,
  secAggRoutes,
} from '../../shared/protocol/index.ts';
import { type DdgPlan, encodeDdg, planDdg, SecAggDevice } from '../../shared/secagg/index.ts';
import type { Fetcher, FleetDevice } from '../../coordinator/routes/fleet.fixture.ts';

export const PHASES = ['advertise', 'share', 'mask', 'unmask'] as const;
export type Phase = (typeof PHASES)[number];

export interface RoundDevice {
  fleet: FleetDevice;
  selected: CheckInSelected;
  config: SecAggRoundConfig;
  plan: DdgPlan;
  device: SecAggDevice;
  /** The update before clipping, and the DDG words it encodes to (what SecAgg masks). */
  update: Float32Array;
  quantised: Uint32Array;
  masked: Uint32Array | null;
}

const auth = (d: FleetDevice) => ({ authorization: `Bearer ${d.token}` });

export async function postJson(f: Fetcher, d: FleetDevice, path: string, body: unknown): Promise<Response> {
  return f(path, {
    method: 'POST',
    headers: { ...auth(d), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export async function getJson(f: Fetcher, d: FleetDevice, path: string): Promise<{ status: number; body: any }> {
  const res = await f(path, { headers: auth(d) });
  return { status: res.status, body: await res.json() };
}

export function putMasked(
  f: Fetcher,
  d: FleetDevice,
  roundId: string,
  header: unknown,
  bytes: Uint8Array,
): Promise<Response> {
  return f(secAggRoutes.masked(roundId), {
    method: 'PUT',
    headers: { ...auth(d), 'content-type': 'application/octet-stream', [SECAGG_MASKED_HEADER]: JSON.stringify(header) },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
}

/** A selected device's round state, its update encoded for the round's DDG. */
export async function prepareDevice(
  fleet: FleetDevice,
  selected: CheckInSelected,
  update: Float32Array,
): Promise<RoundDevice> {
  const config = selected.secureAggregation!.config;
  const plan = planDdg({ dimension: config.dimension, ...config.ddg });
  const rotationSeed = base64ToBytes(config.rotationSeed)!;
  const quantised = await encodeDdg(update, plan, { rotationSeed, roundId: config.roundId });
  const device = await SecAggDevice.create(config.roundId, fleet.deviceId);
  return { fleet, selected, config, plan, device, update, quantised, masked: null };
}

/** What a device's phase GET answered; throws unless `ready`. */
async function ready(f: Fetcher, d: RoundDevice, path: string): Promise<unknown> {
  const { status, body } = await getJson(f, d.fleet, path);
  if (status !== 200 || body.status !== 'ready')
    throw new Error(`${path} for ${d.fleet.deviceId} answered ${status} ${JSON.stringify(body).slice(0, 300)}`);
  return body.message;
}

/** Runs one phase for `devices` (each sends its message; the GET that feeds it first, after advertise). */
export async function runPhase(f: Fetcher, phase: Phase, devices: RoundDevice[]): Promise<void> {
  for (const d of devices) {
    const roundId = d.config.roundId;
    let res: Response;
    if (phase === 'advertise') {
      res = await postJson(f, d.fleet, secAggRoutes.advertise(roundId), d.device.advertisement());
    } else if (phase === 'share') {
      const roster = await ready(f, d, secAggRoutes.roster(roundId));
      res = await postJson(f, d.fleet, secAggRoutes.shares(roundId), await d.device.shareKeys(roster));
    } else if (phase === 'mask') {
      const forwarded = await ready(f, d, secAggRoutes.shares(roundId));
      const { header, masked } = await d.device.maskInput(forwarded, d.quantised);
      d.masked = masked;
      res = await putMasked(
        f,
        d.fleet,
        roundId,
        header,
        new Uint8Array(masked.buffer, masked.byteOffset, masked.byteLength),
      );
    } else {
      const request = await ready(f, d, secAggRoutes.unmask(roundId));
      res = await postJson(f, d.fleet, secAggRoutes.unmask(roundId), d.device.unmask(request));
    }
    if (res.status !== 202)
      throw new Error(`${phase} of ${d.fleet.deviceId} answered ${res.status} ${await res.text()}`);
  }
}

/** Clips as the DDG does: the update scaled to L2 norm at most clipNorm. */
export function clipped(update: Float32Array, clipNorm: number): Float64Array {
  let sq = 0;
  for (const v of update) sq += v * v;
  const scale = Math.sqrt(sq) > clipNorm ? clipNorm / Math.sqrt(sq) : 1;
  return Float64Array.from(update, (v) => v * scale);
}

const WINDOW = 64;
const BASE = 0x01000193;

/**
 * Every offset of `haystacks` at which some aligned 64-byte window of a
 * needle occurs (rolling hash over every offset, then a byte compare).
 */
export function findWindows(needles: Uint8Array[], haystacks: Uint8Array[]): number {
  const hashOf = (b: Uint8Array, at: number) => {
    let h = 0;
    for (let i = 0; i < WINDOW; i++) h = (Math.imul(h, BASE) + b[at + i]) >>> 0;
    return h;
  };
  const wanted = new Map<number, Array<[Uint8Array, number]>>();
  for (const n of needles)
    for (let at = 0; at + WINDOW <= n.length; at += WINDOW) {
      const h = hashOf(n, at);
      const list = wanted.get(h) ?? [];
      list.push([n, at]);
      wanted.set(h, list);
    }
  let top = 1;
  for (let i = 0; i < WINDOW - 1; i++) top = Math.imul(top, BASE) >>> 0;
  let hits = 0;
  for (const hay of haystacks) {
    if (hay.length < WINDOW) continue;
    let h = hashOf(hay, 0);
    for (let at = 0; ; at++) {
      const candidates = wanted.get(h);
      if (candidates?.some(([n, o]) => n.subarray(o, o + WINDOW).every((b, i) => hay[at + i] === b))) hits++;
      if (at + WINDOW >= hay.length) break;
      h = (Math.imul((h - Math.imul(hay[at], top)) >>> 0, BASE) + hay[at + WINDOW]) >>> 0;
    }
  }
  return hits;
}
