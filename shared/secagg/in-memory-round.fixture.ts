/**
 * Test and bench support: one whole SecAgg+ round in memory, real devices and
 * a real server exchanging the real (JSON-serialised) messages, with chosen
 * devices dropping out at chosen phases. Records each device's time and bytes
 * per phase.
 */
import { type DevicePolicy, SecAggDevice, SecAggDevice as Device } from './device.ts';
import type { PlanOptions, SecAggParameters } from './parameters.ts';
import { SecAggError } from './secagg-error.ts';
import { type SecAggResult, SecAggServer } from './server.ts';

export const DROP_PHASES = ['advertise', 'share-keys', 'masked-input', 'unmask'] as const;
export type DropPhase = (typeof DROP_PHASES)[number];

/** Who drops at a phase: a fixed set, or one chosen when the phase starts (the graph is known from share-keys on). */
export type DropChooser = (server: SecAggServer, alive: readonly string[]) => ReadonlySet<string>;
export type DropChoice = ReadonlySet<string> | DropChooser;

export interface RoundScenario {
  roundId?: string;
  /** One input per device; device i is deviceIdAt(i). */
  inputs: readonly Uint32Array[];
  parameters?: SecAggParameters | ((cohortSize: number) => SecAggParameters);
  plan?: PlanOptions;
  /** Each device's policy (default none), e.g. a cheating device for a positive control. */
  policyOf?: (deviceId: string) => DevicePolicy;
  /** Devices that go silent instead of sending that phase's message (and stay silent). */
  drops?: Partial<Record<DropPhase, DropChoice>>;
}

export interface PhaseCost {
  /** Median over devices of their own compute time in this phase, ms. */
  medianMs: number;
  /** Median bytes one device sent / received in this phase (JSON text, plus 4 per masked word). */
  sentBytes: number;
  receivedBytes: number;
}

export interface RoundOutcome {
  result: SecAggResult | null;
  error: SecAggError | null;
  server: SecAggServer;
  devices: Map<string, Device>;
  /** Who was still in the round when each phase started. */
  aliveAt: Record<DropPhase, string[]>;
  costs: Record<DropPhase, PhaseCost>;
  /** Devices that refused a phase (then went silent), with the SecAggError code. */
  refusals: Map<string, string>;
  /** Server time folding masked inputs into the sum, all devices together. */
  serverFoldMs: number;
  /** Server time of finish() (rebuilding secrets and removing masks). */
  serverUnmaskMs: number;
}

export function deviceIdAt(i: number): string {
  return `device-${String(i).padStart(4, '0')}`;
}

const jsonBytes = (m: unknown) => new TextEncoder().encode(JSON.stringify(m)).length;
/** Through JSON and back, as on the wire. */
const wire = <T>(m: T): unknown => JSON.parse(JSON.stringify(m));

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function runInMemoryRound(scenario: RoundScenario): Promise<RoundOutcome> {
  const roundId = scenario.roundId ?? 'round-1';
  const vectorLength = scenario.inputs[0].length;
  const server = new SecAggServer({ roundId, vectorLength, parameters: scenario.parameters, plan: scenario.plan });
  const ids = scenario.inputs.map((_, i) => deviceIdAt(i));
  const inputs = new Map(ids.map((id, i) => [id, scenario.inputs[i]]));
  const devices = new Map<string, Device>();
  const aliveAt = {} as Record<DropPhase, string[]>;
  const times = Object.fromEntries(DROP_PHASES.map((p) => [p, [] as number[]])) as Record<DropPhase, number[]>;
  const sent = Object.fromEntries(DROP_PHASES.map((p) => [p, [] as number[]])) as Record<DropPhase, number[]>;
  const received = Object.fromEntries(DROP_PHASES.map((p) => [p, [] as number[]])) as Record<DropPhase, number[]>;
  let alive = [...ids];
  const startPhase = (phase: DropPhase) => {
    const choice = scenario.drops?.[phase];
    const dropped = typeof choice === 'function' ? choice(server, alive) : (choice ?? new Set<string>());
    alive = alive.filter((id) => !dropped.has(id));
    aliveAt[phase] = [...alive];
  };
  const timed = async <T>(phase: DropPhase, step: () => Promise<T> | T): Promise<T> => {
    const start = performance.now();
    const out = await step();
    times[phase].push(performance.now() - start);
    return out;
  };
  const refusals = new Map<string, string>();
  let serverUnmaskMs = 0;
  let serverFoldMs = 0;
  const costs = () =>
    Object.fromEntries(
      DROP_PHASES.map((p) => [
        p,
        { medianMs: median(times[p]), sentBytes: median(sent[p]), receivedBytes: median(received[p]) },
      ]),
    ) as Record<DropPhase, PhaseCost>;
  try {
    startPhase('advertise');
    for (const id of alive) {
      const device = await timed('advertise', () => SecAggDevice.create(roundId, id, scenario.policyOf?.(id)));
      devices.set(id, device);
      const message = device.advertisement();
      sent.advertise.push(jsonBytes(message));
      server.receiveAdvertisement(wire(message));
    }
    const roster = wire(await server.closeAdvertising());
    startPhase('share-keys');
    for (const id of alive) {
      received['share-keys'].push(jsonBytes(roster));
      const message = await timed('share-keys', () => (devices.get(id) as Device).shareKeys(roster));
      sent['share-keys'].push(jsonBytes(message));
      server.receiveShareKeys(wire(message));
    }
    const forwarded = server.closeSharing();
    startPhase('masked-input');
    alive = alive.filter((id) => forwarded.has(id));
    for (const id of alive) {
      const message = wire(forwarded.get(id));
      received['masked-input'].push(jsonBytes(message));
      let step: Awaited<ReturnType<Device['maskInput']>>;
      try {
        step = await timed('masked-input', () =>
          (devices.get(id) as Device).maskInput(message, inputs.get(id) as Uint32Array),
        );
      } catch (error) {
        if (!(error instanceof SecAggError)) throw error;
        refusals.set(id, error.code); // a device that refuses goes silent, as a dropout
        continue;
      }
      const { header, masked } = step;
      sent['masked-input'].push(jsonBytes(header) + 4 * masked.length);
      const foldStart = performance.now();
      server.receiveMaskedInput(wire(header), masked);
      serverFoldMs += performance.now() - foldStart;
    }
    const request = wire(server.closeMasking());
    startPhase('unmask');
    for (const id of alive) {
      received.unmask.push(jsonBytes(request));
      let message: ReturnType<Device['unmask']>;
      try {
        message = await timed('unmask', () => (devices.get(id) as Device).unmask(request));
      } catch (error) {
        if (!(error instanceof SecAggError)) throw error;
        refusals.set(id, error.code);
        continue;
      }
      sent.unmask.push(jsonBytes(message));
      server.receiveUnmaskResponse(wire(message));
    }
    const start = performance.now();
    const result = await server.finish();
    serverUnmaskMs = performance.now() - start;
    return { result, error: null, server, devices, aliveAt, costs: costs(), refusals, serverFoldMs, serverUnmaskMs };
  } catch (error) {
    if (!(error instanceof SecAggError)) throw error;
    return { result: null, error, server, devices, aliveAt, costs: costs(), refusals, serverFoldMs, serverUnmaskMs };
  }
}

/** xorshift32: reproducible test data and dropout picks (never for secrets). */
export function testPrng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** `count` of `ids`, drawn without replacement, in draw order. */
export function pickRandom(ids: readonly string[], count: number, rand: () => number): string[] {
  const pool = [...ids];
  const out: string[] = [];
  while (out.length < count && pool.length) out.push(pool.splice(Math.floor(rand() * pool.length), 1)[0]);
  return out;
}

/**
 * `count` devices chosen at random among those that can go without leaving
 * any device with fewer than t live neighbours (the graph is public once the
 * roster is out): the dropouts a round is sized to survive. Fewer when no
 * more can go.
 */
export function recoverableDrops(count: number, seed: number): DropChooser {
  return (server: SecAggServer, alive: readonly string[]) => {
    const graph = server.graph;
    const threshold = server.roster?.parameters.threshold;
    if (!graph || threshold === undefined)
      throw new Error('recoverableDrops needs the roster: use it from share-keys on');
    const live = new Set(alive);
    const out = new Set<string>();
    for (const id of pickRandom(alive, alive.length, testPrng(seed))) {
      if (out.size === count) break;
      live.delete(id);
      if (graph.ids.every((x) => graph.neighboursOf(x).filter((y) => live.has(y)).length >= threshold)) out.add(id);
      else live.add(id);
    }
    return out;
  };
}
