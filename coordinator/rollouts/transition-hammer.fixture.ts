/**
 * Test fixture for the rollout transition hammer: a fleet of devices that
 * poll `GET /v1/apps/:app/manifest` back to back over real HTTP while a
 * rollout starts, advances and ends, and the check of what each one was
 * served. The rollout's states are rebuilt from its audit trail (which
 * generation each cohort was given at each transition), so the check does
 * not depend on when a transition happened or which process made it: every
 * manifest a device got must be exactly what its cohort (by the stable
 * cohort hash) gets in one of those states, and those states may only move
 * forward, so its generations never go down.
 */
import type { SignedManifest } from '../../shared/manifest/index.ts';
import type { AuditEntry } from '../store/index.ts';
import { cohortOf } from './cohort.ts';

export interface PollingDevice {
  deviceId: string;
  token: string;
}

/** What one answer of the manifest route said. */
export interface ServedManifest {
  generation: number;
  version: number;
  rolloutId: string | null;
  cohort: string | null;
}

/** What the app serves in one state: everyone the same manifest, or one per cohort. */
export type ServingState =
  | { kind: 'everyone'; generation: number; version: number }
  | {
      kind: 'cohorts';
      rolloutId: string;
      percent: number;
      control: { generation: number; version: number };
      canary: { generation: number; version: number };
    };

type CohortState = Extract<ServingState, { kind: 'cohorts' }>;
type EveryoneState = Extract<ServingState, { kind: 'everyone' }>;

export interface PollingFleet {
  /** Every answer each device got, in order. */
  readonly served: Map<string, ServedManifest[]>;
  /** Requests answered with something other than 200, and failed reports (each one a test failure). */
  readonly failures: string[];
  /** How many manifests were fetched in all. */
  polls(): number;
  /** Has every device report once more (at its next poll) and resolves when all have, or the fleet stopped. */
  reportAll(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface PollOptions {
  /** Base URLs; device i starts at base i and moves to the next one after every request (a load balancer). */
  bases: string[];
  app: string;
  devices: PollingDevice[];
  /** Pause between one device's requests. */
  pauseMs: number;
  /**
   * Called (and awaited) when a device is served a generation it had not had
   * before, and once more after each `reportAll()`: what a client does when it
   * loads a model and when it sends its telemetry batch.
   */
  report?: (device: PollingDevice, served: ServedManifest, base: string) => Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function servedOf(signed: SignedManifest): ServedManifest {
  const m = signed.manifest;
  return {
    generation: m.generation,
    version: m.version,
    rolloutId: m.rollout?.id ?? null,
    cohort: m.rollout?.cohort ?? null,
  };
}

/**
 * Starts every device's poll loop; `stop()` ends them and waits for the last requests.
 * @example
 * const fleet = pollManifests({ bases: [base], app: 'digits', devices, pauseMs: 5 });
 * await startRollout(); await fleet.stop();
 */
export function pollManifests(o: PollOptions): PollingFleet {
  const served = new Map<string, ServedManifest[]>(o.devices.map((d) => [d.deviceId, []]));
  const failures: string[] = [];
  let polls = 0;
  let stopped = false;
  let round = 0;
  const reportedRound = new Map<string, number>();
  const loops = o.devices.map(async (device, i) => {
    const seen = new Set<number>();
    let turn = i;
    while (!stopped) {
      const base = o.bases[turn++ % o.bases.length];
      const res = await fetch(`${base}/v1/apps/${o.app}/manifest`, {
        headers: { authorization: `Bearer ${device.token}` },
      }).catch((e: unknown) => e as Error);
      if (res instanceof Error) {
        failures.push(`${device.deviceId} via ${base}: ${res.message}`);
      } else if (res.status !== 200) {
        failures.push(`${device.deviceId} via ${base}: ${res.status} ${await res.text()}`);
      } else {
        const m = servedOf((await res.json()) as SignedManifest);
        polls++;
        served.get(device.deviceId)!.push(m);
        const due = round;
        if (o.report && (!seen.has(m.generation) || (reportedRound.get(device.deviceId) ?? 0) < due)) {
          seen.add(m.generation);
          await o
            .report(device, m, base)
            .catch((e: unknown) => failures.push(`${device.deviceId} report via ${base}: ${(e as Error).message}`));
          reportedRound.set(device.deviceId, due);
        }
      }
      await sleep(o.pauseMs + Math.random() * o.pauseMs);
    }
  });
  return {
    served,
    failures,
    polls: () => polls,
    reportAll(timeoutMs) {
      const due = ++round;
      return waitFor(
        `every device to report (round ${due})`,
        () => stopped || o.devices.every((d) => (reportedRound.get(d.deviceId) ?? 0) >= due),
        timeoutMs,
      );
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/**
 * Posts what a client reports after loading `served`: model-loaded and
 * labelled feedback at `accuracy` (out of 100 outcomes). Throws unless 202.
 */
export async function reportTelemetry(
  base: string,
  app: string,
  device: PollingDevice,
  served: ServedManifest,
  accuracy: number,
): Promise<void> {
  const at = new Date().toISOString();
  const correct = Math.round(100 * accuracy);
  const res = await fetch(`${base}/v1/telemetry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      deviceId: device.deviceId,
      app,
      modelVersion: served.version,
      events: [
        {
          at,
          type: 'model-loaded',
          version: served.version,
          generation: served.generation,
          encoding: 'int8',
          backend: 'wasm',
          fromCache: false,
        },
        { at, type: 'feedback', correct, incorrect: 100 - correct },
      ],
    }),
  });
  if (res.status !== 202) throw new Error(`telemetry answered ${res.status}: ${await res.text()}`);
}

/** What `deviceId` should be served in `state`. */
export function expectedFor(state: ServingState, deviceId: string): ServedManifest {
  if (state.kind === 'everyone')
    return { generation: state.generation, version: state.version, rolloutId: null, cohort: null };
  const cohort = cohortOf(state.rolloutId, deviceId, state.percent);
  return { ...state[cohort], rolloutId: state.rolloutId, cohort };
}

const num = (v: unknown, what: string): number => {
  if (typeof v !== 'number') throw new Error(`audit entry lacks ${what}`);
  return v;
};

/**
 * The states a rollout went through, from `before` (what everyone had when it
 * started) and its audit entries (any order): start, each advance, and the
 * promotion, rollback or abort that ended it.
 */
export function statesOfRollout(before: EveryoneState, rolloutId: string, audit: AuditEntry[]): ServingState[] {
  const entries = audit.filter((e) => e.target === rolloutId).sort((a, b) => a.id - b.id);
  const states: ServingState[] = [before];
  let current: CohortState | null = null;
  for (const e of entries) {
    const d = e.details as Record<string, unknown>;
    if (e.action === 'rollout.start') {
      const stages = d.stages as number[];
      current = {
        kind: 'cohorts',
        rolloutId,
        percent: stages[0],
        control: {
          generation: num(d.controlGeneration, 'controlGeneration'),
          version: num(d.controlVersion, 'controlVersion'),
        },
        canary: {
          generation: num(d.canaryGeneration, 'canaryGeneration'),
          version: num(d.candidateVersion, 'candidateVersion'),
        },
      };
      states.push(current);
    } else if (e.action === 'rollout.advance' && current) {
      const from: CohortState = current;
      current = {
        ...from,
        percent: num(d.toPercent, 'toPercent'),
        canary: { version: from.canary.version, generation: num(d.canaryGeneration, 'canaryGeneration') },
      };
      states.push(current);
    } else if (e.action === 'rollout.promote') {
      states.push({
        kind: 'everyone',
        generation: num(d.generation, 'generation'),
        version: num(d.version, 'version'),
      });
    } else if (e.action === 'rollout.rollback' || e.action === 'rollout.abort') {
      states.push({
        kind: 'everyone',
        generation: num(d.generation, 'generation'),
        version: num(d.toVersion, 'toVersion'),
      });
    }
  }
  return states;
}

export interface Contradiction {
  deviceId: string;
  /** Position in the device's answers. */
  index: number;
  served: ServedManifest;
  why: string;
}

const same = (a: ServedManifest, b: ServedManifest) =>
  a.generation === b.generation && a.version === b.version && a.rolloutId === b.rolloutId && a.cohort === b.cohort;

/**
 * Every answer that no state in `states` (in order) explains for its device,
 * or that goes back to an earlier state or generation than one it already had.
 */
export function contradictions(served: Map<string, ServedManifest[]>, states: ServingState[]): Contradiction[] {
  const out: Contradiction[] = [];
  for (const [deviceId, answers] of served) {
    const expected = states.map((s) => expectedFor(s, deviceId));
    let at = 0;
    let generation = -Infinity;
    answers.forEach((m, index) => {
      if (m.generation < generation)
        out.push({ deviceId, index, served: m, why: `generation went down from ${generation}` });
      generation = Math.max(generation, m.generation);
      const j = expected.findIndex((e, k) => k >= at && same(e, m));
      if (j >= 0) {
        at = j;
        return;
      }
      const earlier = expected.findIndex((e) => same(e, m));
      out.push({
        deviceId,
        index,
        served: m,
        why:
          earlier >= 0
            ? `state ${earlier} again after state ${at}`
            : `no state gives this device that manifest (its cohort would get ${JSON.stringify(expected)})`,
      });
    });
  }
  return out;
}

/** The devices with at least one contradiction. */
export function contradictedDevices(found: Contradiction[]): string[] {
  return [...new Set(found.map((c) => c.deviceId))];
}

/** Resolves once `done()` holds, checking every 20 ms; throws after `timeoutMs` with `what`. */
export async function waitFor(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
