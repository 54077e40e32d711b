/**
 * Sybil devices against canary rollouts on a real `flock serve` process
 * (issue 13 item 2): 200 honest devices and 5 liars, both directions. The
 * liars register until the manifest they are served puts them where they want
 * to be (registration is free and anonymous), then report whatever serves
 * them: 1000 errors and no correct answer to force the rollback of a candidate
 * as good as production (two of them from the control cohort, claiming the
 * candidate's version), or 1000 correct answers to hide a candidate that
 * honest devices show is 15 points worse. Honest devices poll their signed
 * manifest and report 100 labelled outcomes for the version it names, as the
 * SDK does, until the rollout ends. The devices come from 16 loopback
 * addresses so that the per-IP registration limit stays the server's default.
 */
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret } from '../../coordinator/auth/secrets.ts';
import {
  httpFetcher,
  mnistModelFiles,
  pushModel,
  type Fetcher,
  type FleetDevice,
} from '../../coordinator/routes/fleet.fixture.ts';
import type { SignedManifest } from '../../shared/manifest/index.ts';
import { startCoordinatorProcess, type CoordinatorProcess } from '../pg/coordinator-processes.ts';

const adminKey = newSecret('admin', 'hostile');
const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
let proc: CoordinatorProcess & { stdout(): string };
let dataDir: string;
let f: Fetcher;
const figures: string[] = [];
const ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`);
let registered = 0;

/** `POST /v1/devices` from one of the loopback addresses (fetch cannot pick its source address). */
function register(app: string): Promise<FleetDevice> {
  const localAddress = ADDRESSES[registered++ % ADDRESSES.length];
  const url = new URL('/v1/devices', proc.base);
  const body = JSON.stringify({ app, platform: { runtime: 'node' } });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res
          .setEncoding('utf8')
          .on('data', (c: string) => (text += c))
          .on('end', () => {
            if (res.statusCode !== 201)
              return reject(new Error(`registration from ${localAddress} answered ${res.statusCode}: ${text}`));
            const parsed = JSON.parse(text) as { deviceId: string; token: string };
            resolve({ deviceId: parsed.deviceId, token: parsed.token });
          });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function manifestOf(app: string, d: FleetDevice): Promise<SignedManifest['manifest']> {
  const res = await f(`/v1/apps/${app}/manifest`, { headers: { authorization: `Bearer ${d.token}` } });
  if (res.status !== 200) throw new Error(`manifest answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as SignedManifest).manifest;
}

async function report(
  app: string,
  d: FleetDevice,
  version: number,
  generation: number,
  outcome: { correct: number; incorrect: number; errors?: number },
): Promise<void> {
  const at = new Date().toISOString();
  const events: Record<string, unknown>[] = [
    { type: 'model-loaded', at, version, generation, encoding: 'int8', backend: 'wasm', fromCache: true },
    { type: 'predictions', at, counts: { '0': outcome.correct + outcome.incorrect } },
    { type: 'feedback', at, correct: outcome.correct, incorrect: outcome.incorrect },
  ];
  if (outcome.errors) events.push({ type: 'error', at, where: 'predict', code: 'nan_output', count: outcome.errors });
  const res = await f('/v1/telemetry', {
    method: 'POST',
    headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deviceId: d.deviceId, app, modelVersion: version, events }),
  });
  await res.arrayBuffer();
  if (res.status !== 202 && res.status !== 429) throw new Error(`telemetry answered ${res.status}`);
}

/** Runs `work` over `items`, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

interface RolloutView {
  id: string;
  status: string;
  stageIndex: number;
  lastVerdict: Record<string, unknown> | null;
  reason?: string | null;
}
const rolloutView = async (id: string): Promise<RolloutView> =>
  (await (await f(`/v1/admin/rollouts/${id}`, { headers: admin })).json()) as RolloutView;

interface Liar {
  device: FleetDevice;
  claims: 'served' | 'candidate';
}

/**
 * One scenario on its own app: production v1, candidate v2, a 50% canary stage
 * then promotion. Honest canary devices are right `canaryAccuracy` of the
 * time, control devices 90%. Returns the final rollout and what was sent.
 */
async function scenario(
  app: string,
  o: {
    canaryAccuracy: number;
    liarCohorts: ('canary' | 'control')[];
    lie: { correct: number; incorrect: number; errors?: number };
  },
) {
  const files = await mnistModelFiles('mlp-small');
  expect((await pushModel(f, adminKey, app, files, 'production')).status).toBe(201);
  expect((await pushModel(f, adminKey, app, await mnistModelFiles('mlp-small', 2))).status).toBe(201);
  const honest: FleetDevice[] = [];
  for (let i = 0; i < 200; i++) honest.push(await register(app));
  const started = await f('/v1/admin/rollouts', {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({
      app,
      candidateVersion: 2,
      stages: [50, 100],
      minStageSeconds: 0,
      minSamples: 3,
      metrics: { accuracy: { minSamples: 50, minDevices: 3 } },
    }),
  });
  expect(started.status).toBe(201);
  const rolloutId = ((await started.json()) as { id: string }).id;

  // Sybils: register until the manifest puts each where it wants to be.
  const liars: Liar[] = [];
  let sybilRegistrations = 0;
  for (const want of o.liarCohorts) {
    for (;;) {
      const d = await register(app);
      sybilRegistrations++;
      if ((await manifestOf(app, d)).rollout?.cohort === want) {
        liars.push({ device: d, claims: want === 'control' ? 'candidate' : 'served' });
        break;
      }
    }
  }

  const deadline = Date.now() + 150_000;
  let view = await rolloutView(rolloutId);
  let ticks = 0;
  const served = { canary: 0, control: 0 };
  while (view.status === 'running' && Date.now() < deadline) {
    ticks++;
    await pool(honest, 16, async (d) => {
      const m = await manifestOf(app, d);
      const canary = m.rollout?.cohort === 'canary' || (m.rollout === undefined && m.version === 2);
      if (ticks === 1) served[canary ? 'canary' : 'control']++;
      const correct = Math.round(100 * (canary ? o.canaryAccuracy : 0.9));
      await report(app, d, m.version, m.generation, { correct, incorrect: 100 - correct });
    });
    await pool(liars, 5, async ({ device, claims }) => {
      const m = await manifestOf(app, device);
      await report(app, device, claims === 'candidate' ? 2 : m.version, m.generation, o.lie);
    });
    view = await rolloutView(rolloutId);
  }
  return { view, ticks, served, sybilRegistrations, liars };
}

beforeAll(async () => {
  dataDir = join(await mkdtemp(join(tmpdir(), 'flock-hostile-sybils-')), 'data');
  proc = await startCoordinatorProcess({ adminKey, env: { FLOCK_DATA: dataDir } });
  f = httpFetcher(proc.base);
}, 120_000);

afterAll(async () => {
  if (proc) {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
  if (dataDir) await rm(join(dataDir, '..'), { recursive: true, force: true });
  console.info(
    `\nhostile flock serve (Sybils against rollouts, 200 honest + 5 liars):\n${figures.map((line) => `  ${line}`).join('\n')}`,
  );
});

/** The last verdict in one line: its reasons, else what accuracy and the error rate showed. */
function reasonOf(view: RolloutView): string {
  const verdict = view.lastVerdict as {
    verdict?: string;
    reasons?: string[];
    metrics?: { metric: string; detail?: string }[];
  } | null;
  if (verdict?.reasons?.length) return verdict.reasons.join('; ');
  const shown = (verdict?.metrics ?? [])
    .filter((m) => m.metric === 'accuracy' || m.metric === 'errorRate')
    .map((m) => `${m.metric}: ${m.detail ?? '?'}`);
  return `${verdict?.verdict ?? 'none'}${shown.length ? ` (${shown.join('; ')})` : ''}`;
}

describe('a real flock serve: 5 Sybils cannot decide a rollout that 200 honest devices contradict', () => {
  it('cannot force the rollback of a candidate as good as production', async () => {
    const run = await scenario('sybil-equal', {
      canaryAccuracy: 0.9,
      liarCohorts: ['canary', 'canary', 'canary', 'control', 'control'],
      lie: { correct: 0, incorrect: 1000, errors: 1000 },
    });
    figures.push(
      `force a rollback (equal candidate; 3 liars in the canary and 2 in control claiming v2, each 1000 errors, 0 of 1000 correct; ${run.sybilRegistrations} Sybil registrations): ${run.view.status} after ${run.ticks} fleet ticks (${run.served.canary} canary / ${run.served.control} control honest devices); verdict ${reasonOf(run.view)} (was: rolled_back in 5 s on one device's claim)`,
    );
    expect(run.view.status).toBe('completed');
  }, 400_000);

  it('cannot hide a candidate that honest devices show is 15 points worse', async () => {
    const run = await scenario('sybil-worse', {
      canaryAccuracy: 0.75,
      liarCohorts: ['canary', 'canary', 'canary', 'canary', 'canary'],
      lie: { correct: 1000, incorrect: 0 },
    });
    figures.push(
      `hide a regression (canary 0.75 vs control 0.90; 5 liars in the canary, each 1000 of 1000 correct; ${run.sybilRegistrations} Sybil registrations): ${run.view.status} after ${run.ticks} fleet ticks; verdict ${reasonOf(run.view)}`,
    );
    expect(run.view.status).toBe('rolled_back');
  }, 400_000);
});
