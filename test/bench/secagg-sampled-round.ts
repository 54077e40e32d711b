/**
 * Bench support (Node and, bundled, Chromium): one device's SecAgg+ work per
 * phase in a cohort too large to run whole, measured on a sample of devices.
 * Every device advertises keys and the real server builds the roster and
 * graph; only the sampled devices and their neighbours share keys (a sampled
 * device receives exactly the shares it would in a full round: one from each
 * neighbour); the sampled devices mask their input and answer the 0%-dropout
 * unmasking request (every device a survivor). What a device computes
 * depends on n, k and d only, never on the other devices' inputs, so the
 * sample's per-device figures are those of any device of the round.
 */
import { SecAggDevice } from '../../shared/secagg/device.ts';
import { deviceIdAt } from '../../shared/secagg/in-memory-round.fixture.ts';
import type { UnmaskRequest } from '../../shared/secagg/messages.ts';
import type { SecAggParameters } from '../../shared/secagg/parameters.ts';
import { SecAggServer } from '../../shared/secagg/server.ts';

export const SAMPLED_PHASES = ['advertise', 'share-keys', 'masked-input', 'unmask'] as const;
export type SampledPhase = (typeof SAMPLED_PHASES)[number];

export interface SampledPhaseCost {
  phase: SampledPhase;
  /** Devices whose time is in the median. */
  devices: number;
  medianMs: number;
  /** One device's message(s) in this phase: JSON text, plus 4 bytes per masked word. */
  sentBytes: number;
  receivedBytes: number;
}

export interface SampledRoundOptions {
  roundId: string;
  n: number;
  parameters: SecAggParameters;
  /** Devices that mask and unmask (spread evenly over the sorted ids). */
  sample: number;
  /** The sampled devices' quantised inputs (one is reused by all: the work does not depend on the values). */
  input: Uint32Array;
}

export interface SampledRound {
  neighbours: number;
  threshold: number;
  /** Devices that shared keys (the sample and its neighbours). */
  sharers: number;
  costs: SampledPhaseCost[];
}

const jsonBytes = (m: unknown) => new TextEncoder().encode(JSON.stringify(m)).length;
const wire = <T>(m: T): unknown => JSON.parse(JSON.stringify(m));

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timed<T>(into: number[], step: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  const out = await step();
  into.push(performance.now() - start);
  return out;
}

/**
 * @example
 * const { costs } = await runSampledRound({ roundId: 'r', n: 1000, parameters, sample: 8, input });
 */
export async function runSampledRound(o: SampledRoundOptions): Promise<SampledRound> {
  const server = new SecAggServer({ roundId: o.roundId, vectorLength: o.input.length, parameters: o.parameters });
  const ms: Record<SampledPhase, number[]> = { advertise: [], 'share-keys': [], 'masked-input': [], unmask: [] };
  const sent: Record<SampledPhase, number[]> = { advertise: [], 'share-keys': [], 'masked-input': [], unmask: [] };
  const received: Record<SampledPhase, number[]> = { advertise: [], 'share-keys': [], 'masked-input': [], unmask: [] };
  const devices = new Map<string, SecAggDevice>();
  for (let i = 0; i < o.n; i++) {
    const id = deviceIdAt(i);
    const device = await timed(ms.advertise, () => SecAggDevice.create(o.roundId, id));
    devices.set(id, device);
    sent.advertise.push(jsonBytes(device.advertisement()));
    server.receiveAdvertisement(wire(device.advertisement()));
  }
  const roster = wire(await server.closeAdvertising());
  const graph = server.graph;
  if (!graph) throw new Error('the server closed advertising without a graph');
  const sampled = Array.from({ length: o.sample }, (_, i) => graph.ids[Math.floor((i * o.n) / o.sample)]);
  const sharers = new Set(sampled.flatMap((id) => [id, ...graph.neighboursOf(id)]));
  for (const id of graph.ids) {
    if (!sharers.has(id)) continue;
    received['share-keys'].push(jsonBytes(roster));
    const message = await timed(ms['share-keys'], () => (devices.get(id) as SecAggDevice).shareKeys(roster));
    sent['share-keys'].push(jsonBytes(message));
    server.receiveShareKeys(wire(message));
  }
  const forwarded = server.closeSharing();
  for (const id of sampled) {
    const message = wire(forwarded.get(id));
    const shares = (message as { ciphertexts: unknown[] }).ciphertexts.length;
    if (shares !== graph.neighboursOf(id).length)
      throw new Error(`${id} was forwarded ${shares} shares, not one per neighbour`);
    received['masked-input'].push(jsonBytes(message));
    const { header, masked } = await timed(ms['masked-input'], () =>
      (devices.get(id) as SecAggDevice).maskInput(message, o.input),
    );
    if (masked.every((w, i) => w === o.input[i])) throw new Error(`${id} sent its input unmasked`);
    sent['masked-input'].push(jsonBytes(header) + 4 * masked.length);
  }
  // What the server asks when every device sent its masked input.
  const request: UnmaskRequest = {
    type: 'secagg.unmask-request',
    roundId: o.roundId,
    survivors: [...graph.ids],
    dropped: [],
  };
  for (const id of sampled) {
    received.unmask.push(jsonBytes(request));
    const response = await timed(ms.unmask, () => (devices.get(id) as SecAggDevice).unmask(wire(request)));
    sent.unmask.push(jsonBytes(response));
  }
  const { neighbours, threshold } = o.parameters;
  return {
    neighbours,
    threshold,
    sharers: sharers.size,
    costs: SAMPLED_PHASES.map((phase) => ({
      phase,
      devices: ms[phase].length,
      medianMs: median(ms[phase]),
      sentBytes: median(sent[phase]),
      receivedBytes: received[phase].length ? median(received[phase]) : 0,
    })),
  };
}
