/**
 * Rollout exposure as devices really behave, through the public HTTP API of
 * an in-process coordinator on a real SQLite data directory. Each device is
 * the SDK's own telemetry parts: a recorder (client/telemetry) whose batches
 * go through the client outbox (flushOutbox), with the manifest read from
 * `GET /v1/apps/:app/manifest`.
 *
 * The defect this guards: exposure used to be the devices that sent a
 * 'model-loaded' event since the stage began, and the SDK sends one only when
 * a page connects or installs a different version. With pages that stay open
 * across a stage boundary, only the devices that moved into the canary loaded
 * anything, so an equal candidate was halted for "N canary / 0 control
 * exposed". Now a device is exposed when it reports anything (a heartbeat
 * included) for the version its cohort is served.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../client/storage/index.ts';
import { createTelemetryRecorder, enqueueTelemetry, type TelemetryRecorder } from '../../client/telemetry/index.ts';
import { HEARTBEAT_MS } from '../../client/telemetry/recorder.ts';
import { FlockTransport } from '../../client/federated/transport.ts';
import { flushOutbox } from '../../client/training/outbox-flush.ts';
import type { SignedManifest } from '../../shared/manifest/index.ts';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { readCohorts } from '../../coordinator/rollouts/rollout-telemetry.ts';
import { DEFAULT_MAX_LATENCY_SAMPLES_PER_DEVICE } from '../../coordinator/rollouts/cohort-summary.ts';
import {
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
  type Fetcher,
  type FleetDevice,
} from '../../coordinator/routes/fleet.fixture.ts';
import type { Rollout } from '../../coordinator/store/index.ts';

const APP = 'exposure';
const BASE = 'http://flock.test';
const DEVICES = 120;
const adminKey = testAdminKey();
const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };

let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let files: Map<string, Uint8Array>;
/** The devices' clock (their recorders' `now`): moved forward by hand so heartbeats fall due without waiting. */
let deviceClock = Date.now();

/** One page of the SDK: its manifest, recorder and outbox. `open()` is a page load. */
class Page {
  readonly outbox = createMemoryStore();
  recorder: TelemetryRecorder | null = null;
  version = 0;
  cohort: string | undefined;
  online = true;

  constructor(readonly device: FleetDevice) {}

  private async manifest(): Promise<SignedManifest['manifest']> {
    const res = await f(`/v1/apps/${APP}/manifest`, { headers: { authorization: `Bearer ${this.device.token}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as SignedManifest).manifest;
  }

  /** A page load (or reload): reads the manifest and activates its version, as connect() does. */
  async open(): Promise<void> {
    const m = await this.manifest();
    this.recorder = createTelemetryRecorder({ now: () => new Date(deviceClock) });
    this.version = m.version;
    this.cohort = m.rollout?.cohort;
    this.recorder.modelLoaded({
      version: m.version,
      generation: m.generation,
      encoding: 'int8',
      backend: 'wasm',
      fromCache: true,
    });
  }

  /** A long-lived page polling its manifest: a different version is installed (a 'model-loaded'); the same one is not. */
  async poll(): Promise<void> {
    const m = await this.manifest();
    this.cohort = m.rollout?.cohort;
    if (m.version === this.version || !this.recorder) return;
    // connect.ts closes the old version's batch before switching.
    await this.flush();
    this.version = m.version;
    this.recorder.modelLoaded({
      version: m.version,
      generation: m.generation,
      encoding: 'int8',
      backend: 'wasm',
      fromCache: false,
    });
  }

  /** `n` uncached predictions and `n` labelled outcomes, `accuracy` of them right. */
  use(n: number, accuracy = 0.9, latencyMs = 5): void {
    for (let i = 0; i < n; i++) {
      this.recorder?.prediction(
        { label: 1, confidence: 0.9, latencyMs: latencyMs * (0.5 + ((i * 37) % 100) / 100), cached: false },
        'wasm',
      );
      this.recorder?.feedback(1, i < Math.round(n * accuracy) ? 1 : 0);
    }
  }

  /** What connect()'s telemetry timer does: take a batch into the outbox, then send the outbox if online. */
  async flush(): Promise<void> {
    const batch = this.recorder?.take({ deviceId: this.device.deviceId, app: APP, modelVersion: this.version });
    if (batch) await enqueueTelemetry(this.outbox, BASE, batch);
    if (!this.online) return;
    const sent = await flushOutbox({
      store: this.outbox,
      transport: new FlockTransport({
        baseUrl: BASE,
        token: this.device.token,
        fetch: ((url: string, init: RequestInit) => f(new URL(url).pathname, init)) as typeof fetch,
      }),
      kinds: ['telemetry'],
      ignoreBackoff: true,
    });
    for (const s of sent) expect(s.status).toBe('sent');
  }

  async pending(): Promise<number> {
    return (await this.outbox.countOutbox()).telemetry;
  }
}

const settle = () => new Promise((r) => setTimeout(r, 5));

async function startRollout(candidateVersion: number, stages: number[]): Promise<Rollout> {
  const res = await f('/v1/admin/rollouts', {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({
      app: APP,
      candidateVersion,
      stages,
      minStageSeconds: 0,
      minSamples: 5,
      metrics: { accuracy: { minSamples: 50, minDevices: 3 } },
    }),
  });
  expect(res.status).toBe(201);
  return (await flock.deps.store.getRollout(((await res.json()) as { id: string }).id))!;
}

const rolloutNow = async (id: string) => (await flock.deps.store.getRollout(id))!;

/** Exposure as counted before this change: devices whose latest 'model-loaded' row since the stage began names the version. */
async function modelLoadedExposure(r: Rollout): Promise<{ canary: number; control: number }> {
  const rows = await flock.deps.store.listTelemetry({
    app: APP,
    since: r.stageStartedAt,
    kind: 'model-loaded',
    limit: 1000,
  });
  const latest = new Map<string, number>();
  for (const row of rows) latest.set(row.deviceId, row.version ?? -1);
  const of = (v: number) => [...latest.values()].filter((x) => x === v).length;
  return { canary: of(r.candidateVersion), control: of(r.controlVersion) };
}

/** Moves the rollout on with an equal candidate: every page reports a window of predictions, then evaluate. */
async function passStage(pages: Page[], id: string, expected: 'advance' | 'promote'): Promise<Rollout> {
  for (const p of pages) {
    p.use(20);
    await p.flush();
  }
  const { action, rollout } = await flock.deps.rollouts.evaluate(id);
  expect(action.kind, JSON.stringify(action)).toBe(expected);
  await settle();
  return rollout;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-exposure-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    rateLimits: { registerPerIp: { limit: 10_000, windowMs: 60_000 }, perDevice: { limit: 10_000, windowMs: 60_000 } },
  });
  f = async (path, init) => flock.app.request(path, init);
  files = await mnistModelFiles('mlp-small');
  expect((await pushModel(f, adminKey, APP, files, 'production')).status).toBe(201); // v1
}, 120_000);

afterAll(async () => {
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('rollout exposure', () => {
  it('counts long-lived pages in the next stage from their heartbeats, where model-loaded counted none of control', async () => {
    expect((await pushModel(f, adminKey, APP, files)).status).toBe(201); // v2
    const devices: FleetDevice[] = [];
    for (let i = 0; i < DEVICES; i++) devices.push(await registerDevice(f, APP));
    let r = await startRollout(2, [20, 50, 100]);
    const pages = devices.map((d) => new Page(d));
    for (const p of pages) await p.open();
    const stage1 = await readCohorts(flock.deps.store, r);
    expect(stage1.canary.exposedDevices + stage1.control.exposedDevices).toBe(0); // opened, nothing sent yet
    const stage1Cohort = new Map(pages.map((p) => [p, p.cohort]));
    r = await passStage(pages, r.id, 'advance');
    expect(r.stageIndex).toBe(1);

    // Stage 2 (50%): the same pages stay open. Those moved into the canary install v2 on their next poll; the
    // rest keep what they run, load nothing and, idle, send only a heartbeat once HEARTBEAT_MS have passed.
    for (const p of pages) await p.poll();
    const canary = pages.filter((p) => p.cohort === 'canary');
    const control = pages.filter((p) => p.cohort === 'control');
    const moved = canary.filter((p) => stage1Cohort.get(p) === 'control');
    deviceClock += HEARTBEAT_MS;
    for (const p of pages) await p.flush();

    const old = await modelLoadedExposure(r);
    const now = await readCohorts(flock.deps.store, r);
    // Before: only the pages that switched version are exposed (the "36 canary / 0 control" halt).
    expect(old).toEqual({ canary: moved.length, control: 0 });
    expect(moved.length).toBeGreaterThan(20); // Binomial(~96, 0.375)
    expect(moved.length).toBeLessThan(canary.length);
    // Now: every open page, in the cohort it was served.
    expect(now.canary.exposedDevices).toBe(canary.length);
    expect(now.control.exposedDevices).toBe(control.length);
    const heartbeats = await flock.deps.store.listTelemetry({
      app: APP,
      since: r.stageStartedAt,
      kind: 'heartbeat',
      limit: 1000,
    });
    expect(new Set(heartbeats.map((h) => h.deviceId)).size).toBe(DEVICES - moved.length);

    const { verdict, action } = await flock.deps.rollouts.evaluate(r.id);
    expect(verdict?.verdict).not.toBe('srm');
    expect(verdict?.srm).toMatchObject({
      canaryExposed: canary.length,
      controlExposed: control.length,
      mismatch: false,
    });
    expect(action.kind).not.toBe('halt');
    expect((await passStage(pages, r.id, 'promote')).status).toBe('completed');
  }, 120_000);

  it('counts a reloading page once, an offline page when its outbox drains, and a misserved page where it runs', async () => {
    expect((await pushModel(f, adminKey, APP, files)).status).toBe(201); // v3, against production v2
    const devices: FleetDevice[] = [];
    for (let i = 0; i < 60; i++) devices.push(await registerDevice(f, APP));
    const r = await startRollout(3, [50, 100]);
    const pages = devices.map((d) => new Page(d));
    for (const p of pages) await p.open();
    const canary = pages.filter((p) => p.cohort === 'canary');
    const control = pages.filter((p) => p.cohort === 'control');
    expect(canary.length).toBeGreaterThan(15);
    expect(control.length).toBeGreaterThan(15);
    const [reloader, offline] = canary;
    const [misserved, lateControl] = control;

    // Reloads: five page loads, five 'model-loaded' rows, one exposed device (the first load's batch died unsent with its page).
    for (let i = 0; i < 5; i++) {
      await reloader.open();
      await reloader.flush();
    }
    // Offline: the page records a window of predictions, the send fails, the batch waits in the outbox.
    offline.online = false;
    offline.use(30);
    await offline.flush();
    expect(await offline.pending()).toBe(1);
    // A caching proxy hands one control device the candidate build: it reports v3 although it was served v2.
    misserved.version = 3;
    misserved.use(30);
    await misserved.flush();
    let now = await readCohorts(flock.deps.store, r);
    // The reloader, and the misserved device: exposed to what it runs (what the sample-ratio check is for), its metrics nowhere.
    expect(now.canary.exposedDevices).toBe(2);
    expect(now.control.exposedDevices).toBe(0);
    expect(now.canary.correct + now.canary.incorrect).toBe(0); // neither sent outcomes of the candidate in the canary yet
    expect(
      (
        await flock.deps.store.listTelemetry({
          app: APP,
          version: 3,
          kind: 'model-loaded',
          since: r.stageStartedAt,
          limit: 100,
        })
      ).filter((e) => e.deviceId === reloader.device.deviceId),
    ).toHaveLength(5);

    // Back online: the batch recorded offline arrives, and counts in the stage it arrives in.
    offline.online = true;
    await offline.flush();
    expect(await offline.pending()).toBe(0);
    for (const p of pages)
      if (p !== offline && p !== misserved && p !== lateControl) {
        p.use(20);
        await p.flush();
      }
    now = await readCohorts(flock.deps.store, r);
    expect(now.canary.exposedDevices).toBe(canary.length + 1);
    expect(now.control.exposedDevices).toBe(control.length - 2);
    // Latency samples from the SDK's reservoir reach both summaries, at most 64 per device.
    expect(now.canary.latencySamplesMs.length).toBeGreaterThan(10 * (canary.length - 2));
    expect(now.canary.latencySamplesMs.length).toBeLessThanOrEqual(
      DEFAULT_MAX_LATENCY_SAMPLES_PER_DEVICE * canary.length,
    );
    expect(now.control.latencySamplesMs.length).toBeGreaterThan(10 * (control.length - 2));
    expect(now.canary.devices?.latency).toBeGreaterThanOrEqual(canary.length - 1);

    // A page whose telemetry has not arrived is not exposed yet; its first batch counts it.
    await lateControl.flush();
    expect((await readCohorts(flock.deps.store, r)).control.exposedDevices).toBe(control.length - 1);
    const { verdict } = await flock.deps.rollouts.evaluate(r.id);
    expect(verdict?.srm).toMatchObject({
      canaryExposed: canary.length + 1,
      controlExposed: control.length - 1,
      mismatch: false,
    });
    expect((await rolloutNow(r.id)).status).not.toBe('halted');
  }, 120_000);
});
