/**
 * `flock rollout show`'s verdict lines from real verdicts: a coordinator on a
 * real SQLite data directory, devices sending telemetry through
 * `POST /v1/telemetry`, the rollout evaluated, and `lastVerdict` read back
 * from `GET /v1/admin/rollouts/:id`. The same records must parse with the
 * wire schema (shared/protocol/rollouts.ts) that `/openapi.json` publishes.
 */
import { serve } from '@hono/node-server';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedManifest } from '../shared/manifest/index.ts';
import { RolloutVerdictSchema } from '../shared/protocol/index.ts';
import { createCoordinator, type Coordinator } from '../coordinator/coordinator.ts';
import {
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
  type Fetcher,
  type FleetDevice,
} from '../coordinator/routes/fleet.fixture.ts';
import { main, type CliIo } from './index.ts';
import { describeVerdict } from './rollout-verdict.ts';

const adminKey = testAdminKey();
const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let server: ReturnType<typeof serve>;
let url: string;

/** `flock ...args` against the loopback coordinator; stdout, stderr and the exit code. */
async function flockCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t) };
  const code = await main(['node', 'flock', ...args, '--url', url, '--admin-key', adminKey], io);
  return { code, out, err };
}

async function cohortOf(d: FleetDevice): Promise<{ version: number; cohort?: string }> {
  const res = await f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${d.token}` } });
  const m = ((await res.json()) as SignedManifest).manifest;
  return { version: m.version, cohort: m.rollout?.cohort };
}

async function report(d: FleetDevice, version: number, correct: number, incorrect: number) {
  const at = new Date().toISOString();
  const res = await f('/v1/telemetry', {
    method: 'POST',
    headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      deviceId: d.deviceId,
      app: 'digits',
      modelVersion: version,
      events: [
        { type: 'feedback', at, correct, incorrect },
        { type: 'heartbeat', at, generation: 1, backend: 'wasm' },
      ],
    }),
  });
  expect(res.status).toBe(202);
}

async function lastVerdict(id: string): Promise<unknown> {
  const res = await f(`/v1/admin/rollouts/${id}`, { headers: admin });
  expect(res.status).toBe(200);
  return ((await res.json()) as { lastVerdict: unknown }).lastVerdict;
}

/** Registers devices until `n` are in each cohort of the live rollout. */
async function fleet(n: number): Promise<{ canary: FleetDevice[]; control: FleetDevice[] }> {
  const out = { canary: [] as FleetDevice[], control: [] as FleetDevice[] };
  while (out.canary.length < n || out.control.length < n) {
    const d = await registerDevice(f, 'digits');
    const side = (await cohortOf(d)).cohort === 'canary' ? out.canary : out.control;
    if (side.length < n) side.push(d);
  }
  return out;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-cli-verdict-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    rateLimits: { registerPerIp: { limit: 10_000, windowMs: 60_000 }, perDevice: { limit: 10_000, windowMs: 60_000 } },
  });
  f = async (path, init) => flock.app.request(path, init);
  server = serve({ fetch: flock.app.fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const files = await mnistModelFiles('mlp-small');
  expect((await pushModel(f, adminKey, 'digits', files, 'production')).status).toBe(201);
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201);
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201);
}, 120_000);

afterAll(async () => {
  server?.close();
  if (server && 'closeAllConnections' in server) server.closeAllConnections();
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('flock rollout show: verdict lines', () => {
  it('says what the rollout waits for (exposed canary devices) and what each metric waits for', async () => {
    const res = await f('/v1/admin/rollouts', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        app: 'digits',
        candidateVersion: 2,
        stages: [50, 100],
        minStageSeconds: 0,
        minSamples: 50,
        metrics: { accuracy: { minSamples: 200 } },
      }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    expect(describeVerdict(await lastVerdict(id))[0]).toMatch(/^verdict {5}none yet/);

    const { canary, control } = await fleet(6);
    for (const d of [...canary, ...control]) await report(d, (await cohortOf(d)).version, 90, 10);
    await flock.deps.rollouts.evaluate(id);
    const raw = await lastVerdict(id);
    expect(RolloutVerdictSchema.safeParse(raw).error).toBeUndefined();
    const lines = describeVerdict(raw);
    const text = lines.join('\n');
    expect(lines[0]).toMatch(/^verdict {5}pass at \S+ \(stage 1 at 50%\)$/);
    expect(text).toContain('next        wait: 6 of 50 canary devices exposed');
    expect(text).toMatch(
      /exposure {4}6 canary \/ 6 control devices; expected canary share 50\.0%, observed 50\.0%: matches/,
    );
    expect(text).toMatch(/accuracy\s+pass\s+.*\[600 canary \/ 600 control samples\]/);
    // Metrics with nothing to compare say what they need.
    expect(text).toMatch(/latency\s+insufficient\s+needs \d+ samples per cohort, has 0 canary \/ 0 control/);
    // What the operator sees without --json: the same lines.
    const shown = await flockCli('rollout', 'show', id);
    expect(shown.err).toBe('');
    expect(shown.code).toBe(0);
    expect(shown.out).toContain(`rollout ${id}  running`);
    for (const line of lines) expect(shown.out).toContain(line);
    const aborted = await f(`/v1/admin/rollouts/${id}/abort`, {
      method: 'POST',
      headers: { authorization: admin.authorization },
    });
    expect(aborted.status, await aborted.clone().text()).toBe(200);
  }, 60_000);

  it('says why a metric failed and that the rollout rolled back', async () => {
    const res = await f('/v1/admin/rollouts', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        app: 'digits',
        candidateVersion: 3,
        stages: [50, 100],
        minStageSeconds: 0,
        minSamples: 5,
        metrics: { accuracy: { minSamples: 200 } },
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const { canary, control } = await fleet(6);
    for (const d of canary) await report(d, 3, 50, 50);
    for (const d of control) await report(d, 1, 90, 10);
    await flock.deps.rollouts.evaluate(id);
    const raw = await lastVerdict(id);
    expect(RolloutVerdictSchema.safeParse(raw).error).toBeUndefined();
    const text = describeVerdict(raw).join('\n');
    expect(text).toMatch(/^verdict {5}fail/);
    expect(text).toMatch(/next {8}roll back: accuracy fail: /);
    expect(text).toMatch(/accuracy\s+fail\s+canary 0\.500 vs control 0\.900/);
    expect(text).toMatch(/ {2}- accuracy fail: /);
  }, 60_000);

  it('is what /openapi.json publishes for lastVerdict, and the rollout body documents shadow', async () => {
    const doc = (await (await f('/openapi.json')).json()) as {
      paths: Record<
        string,
        Record<
          string,
          {
            responses?: Record<string, { content: Record<string, { schema: Schema }> }>;
            requestBody?: { content: Record<string, { schema: Schema }> };
          }
        >
      >;
    };
    type Schema = { properties?: Record<string, Schema>; required?: string[]; oneOf?: Schema[]; type?: unknown };
    const shown = doc.paths['/v1/admin/rollouts/{id}'].get.responses?.['200'].content['application/json'].schema;
    const verdict = shown?.properties?.lastVerdict;
    expect(verdict?.required).toEqual(expect.arrayContaining(['verdict', 'srm', 'metrics', 'reasons', 'action']));
    expect(verdict?.properties?.action.oneOf).toHaveLength(5);
    expect(verdict?.properties?.srm.properties?.canaryExposed).toBeDefined();
    const body = doc.paths['/v1/admin/rollouts'].post.requestBody?.content['application/json'].schema;
    expect(body?.properties?.shadow.properties?.sampleRate).toBeDefined();
  });

  it('shows an unreadable record by its verdict and reasons, pointing at --json', () => {
    expect(describeVerdict({ verdict: 'pass', reasons: ['from a newer coordinator'] })).toEqual([
      'verdict     pass (this CLI cannot read the whole record; see --json)',
      '  - from a newer coordinator',
    ]);
  });
});
