/**
 * Operator actions with a reason, and the audit log's filters, through
 * `app.request` on a real SQLite data directory: a rollout paused, resumed
 * and aborted with reasons, a task paused and resumed with one, the CLI's
 * body-less POST still accepted, a reason too long refused; the audit log
 * filtered by action, actor, target and since and paged by beforeId; the app
 * list with simulator apps hidden unless asked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminAnswer } from '../admin-client.ts';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { MAX_ACTION_REASON_CHARS } from './action-reason.ts';
import { isSimulatorApp } from './admin-audit.ts';
import { createTask, fleetAdmin, mnistModelFiles, pushModel, testAdminKey, type Fetcher } from './fleet.fixture.ts';

const adminKey = testAdminKey();
const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let rolloutId: string;
let taskId: string;

const post = (path: string, body?: unknown) =>
  f(path, {
    method: 'POST',
    headers: body === undefined ? { authorization: admin.authorization } : admin,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
/** `GET /v1/admin/audit?<query>` through the typed admin client; throws unless 200. */
const audit = (query: string) =>
  adminAnswer(fleetAdmin(f, adminKey).v1.admin.audit.$get({ query: Object.fromEntries(new URLSearchParams(query)) }));

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-admin-audit-'));
  flock = await createCoordinator({ dataDir, adminKey, log: pino({ level: 'silent' }), sweep: false });
  f = async (path, init) => flock.app.request(path, init);
  const files = await mnistModelFiles('mlp-small');
  for (const [app, stage] of [
    ['digits', 'production'],
    ['digits', undefined],
    ['sim', 'production'],
    ['sim-0a1b2c3d', 'production'],
  ] as const)
    expect((await pushModel(f, adminKey, app, files, stage)).status).toBe(201);
  const start = await post('/v1/admin/rollouts', { app: 'digits', candidateVersion: 2, minStageSeconds: 3600 });
  expect(start.status).toBe(201);
  rolloutId = ((await start.json()) as { id: string }).id;
  const task = await createTask(f, adminKey, 'digits', 1, { population: 10 });
  expect(task.status).toBe(201);
  taskId = ((await task.json()) as { id: string }).id;
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('operator actions with a reason', () => {
  it('records the reason of a rollout pause, resume and abort in their audit entries', async () => {
    expect(
      (await (await post(`/v1/admin/rollouts/${rolloutId}/pause`, { reason: 'latency alert on call' })).json()).status,
    ).toBe('paused');
    expect(
      (await (await post(`/v1/admin/rollouts/${rolloutId}/resume`, { reason: '  alert was a false positive ' })).json())
        .status,
    ).toBe('running');
    const aborted = (await (
      await post(`/v1/admin/rollouts/${rolloutId}/abort`, { reason: 'ticket OPS-12' })
    ).json()) as { status: string; reason: string };
    expect(aborted).toMatchObject({ status: 'aborted', reason: 'aborted by operator: ticket OPS-12' });
    const { entries } = await audit(`target=${rolloutId}`);
    const byAction = Object.fromEntries(entries.map((e) => [e.action, e.details]));
    expect(byAction['rollout.pause']).toEqual({ reason: 'latency alert on call' });
    expect(byAction['rollout.resume']).toEqual({ from: 'paused', reason: 'alert was a false positive' });
    expect(byAction['rollout.abort']).toMatchObject({ reason: 'aborted by operator: ticket OPS-12' });
  });

  it('records the reason of a task pause and resume; a body-less POST (the CLI) still works', async () => {
    expect((await post(`/v1/admin/tasks/${taskId}/pause`, { reason: 'holiday freeze' })).status).toBe(200);
    expect((await post(`/v1/admin/tasks/${taskId}/resume`)).status).toBe(200);
    const { entries } = await audit(`target=${taskId}&action=task.pause`);
    expect(entries.map((e) => e.details)).toEqual([{ from: 'active', reason: 'holiday freeze' }]);
    const resumed = await audit(`target=${taskId}&action=task.resume`);
    expect(resumed.entries.map((e) => e.details)).toEqual([{ from: 'paused' }]);
  });

  it('refuses a reason that is too long, empty, or comes with unknown fields, and changes nothing', async () => {
    for (const body of [
      { reason: 'x'.repeat(MAX_ACTION_REASON_CHARS + 1) },
      { reason: '   ' },
      { reason: 'ok', force: true },
    ]) {
      const res = await post(`/v1/admin/tasks/${taskId}/pause`, body);
      expect(res.status).toBe(400);
    }
    expect(
      ((await (await f(`/v1/admin/tasks/${taskId}`, { headers: admin })).json()) as { status: string }).status,
    ).toBe('active');
    expect(
      (await post(`/v1/admin/tasks/${taskId}/pause`, { reason: 'x'.repeat(MAX_ACTION_REASON_CHARS) })).status,
    ).toBe(200);
  });
});

describe('GET /v1/admin/audit filters', () => {
  it('filters by actor and action, and since excludes what came before', async () => {
    await flock.deps.store.appendAudit({ actor: 'system', action: 'test.marker', target: 'm1' });
    const marker = (await audit('action=test.marker')).entries[0];
    const byAdmin = await audit('actor=system&action=test.marker');
    expect(byAdmin.entries.map((e) => e.target)).toEqual(['m1']);
    expect((await audit('actor=admin:nobody')).entries).toEqual([]);
    const later = new Date(Date.parse(marker.at) + 1).toISOString();
    expect((await audit(`action=test.marker&since=${encodeURIComponent(later)}`)).entries).toEqual([]);
    // An offset other than Z names the same instant.
    const sameInstant = new Date(Date.parse(marker.at)).toISOString().replace('Z', '+00:00');
    expect(
      (await audit(`action=test.marker&since=${encodeURIComponent(sameInstant)}`)).entries.map((e) => e.id),
    ).toEqual([marker.id]);
    expect((await f('/v1/admin/audit?since=yesterday', { headers: admin })).status).toBe(400);
  });

  it('pages newest first by beforeId until nextBeforeId is null', async () => {
    const all = (await audit('limit=1000')).entries;
    expect(all.length).toBeGreaterThan(5);
    const seen: number[] = [];
    let cursor: number | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const page = await audit(`limit=2${cursor === null ? '' : `&beforeId=${cursor}`}`);
      seen.push(...page.entries.map((e) => e.id));
      cursor = page.nextBeforeId;
      if (cursor === null) break;
    }
    expect(seen).toEqual(all.map((e) => e.id));
  });
});

describe('GET /v1/admin/apps', () => {
  it('hides simulator apps unless asked', async () => {
    const api = fleetAdmin(f, adminKey);
    const hidden = await adminAnswer(api.v1.admin.apps.$get({ query: {} }));
    expect(hidden).toEqual({ apps: [{ app: 'digits', simulator: false }], hiddenSimulators: 2 });
    const all = await adminAnswer(api.v1.admin.apps.$get({ query: { simulators: 'true' } }));
    expect(all.apps.map((a) => a.app)).toEqual(['digits', 'sim', 'sim-0a1b2c3d']);
  });

  it('tells simulator names from apps that merely start with sim', () => {
    expect(['sim', 'sim-00ff', 'simple', 'sim-x', 'sims'].map(isSimulatorApp)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });
});
