/**
 * Two coordinators on one PostgreSQL database, each served on loopback. A
 * device's SSE stream on B must hear a manifest change made through A's admin
 * API well before the route's 15 s heartbeat re-check could have found it:
 * with LISTEN/NOTIFY fan-out it arrives in well under 5 s, and in the control
 * run (in-process events on both) it does not arrive within 5 s at all, which
 * shows the first result is the fan-out's and not the heartbeat's. A client
 * that reconnects with Last-Event-ID gets the current manifest once.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAdminKey } from '../../cli/admin-key.ts';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { inProcessManifestEvents, type ManifestEvents } from '../../coordinator/rollouts/index.ts';
import { openPostgresManifestEvents } from '../../coordinator/rollouts/postgres-manifest-events.ts';
import { DEFAULT_HEARTBEAT_MS } from '../../coordinator/routes/events.ts';
import {
  httpFetcher,
  mnistModelFiles,
  pushModel,
  registerDevice,
  type Fetcher,
  type FleetDevice,
} from '../../coordinator/routes/fleet.fixture.ts';
import { openPostgresStore } from '../../coordinator/store/postgres-store.ts';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../pg/test-database.ts';
import { sseReader } from './sse-reader.ts';

const skip = skipWithoutPostgres('SSE fan-out across coordinators');
const adminKey = generateAdminKey();
const adminJson = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
/** Far below the heartbeat, so only an announced change can arrive this fast. */
const FANOUT_DEADLINE_MS = 5_000;

interface Served {
  flock: Coordinator;
  f: Fetcher;
  close(): Promise<void>;
}

let db: TestDatabase | undefined;
const dirs: string[] = [];
const nodes: Served[] = [];

async function startNode(name: string, events: ManifestEvents & { close?: () => Promise<void> }): Promise<Served> {
  const dataDir = await mkdtemp(join(tmpdir(), `flock-fanout-${name}-`));
  dirs.push(dataDir);
  // Every process sharing a store signs with the same key file (here the first node's).
  const signingKeyFile = join(dirs[0]!, 'manifest-signing-key.json');
  const store = await openPostgresStore({ connectionString: db!.url, poolSize: 3, applicationName: `flock-${name}` });
  const flock = await createCoordinator({
    dataDir,
    store,
    events,
    adminKey,
    sweep: false,
    signingKeyFile,
    log: pino({ level: 'silent' }),
    aggregationBackend: 'cpu',
    rateLimits: { registerPerIp: { limit: 10_000, windowMs: 60_000 }, perDevice: { limit: 10_000, windowMs: 60_000 } },
  });
  const server = serve({ fetch: flock.app.fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  const served: Served = {
    flock,
    f: httpFetcher(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    async close() {
      server.close();
      if ('closeAllConnections' in server) server.closeAllConnections();
      await flock.close();
      await events.close?.();
    },
  };
  nodes.push(served);
  return served;
}

const openEvents = (d: FleetDevice, f: Fetcher, app: string, lastEventId?: string) =>
  f(`/v1/apps/${app}/events`, {
    headers: { authorization: `Bearer ${d.token}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
  });

/** v1 in production, v2 pushed as a candidate, one device registered on B with its stream open on its first manifest. */
async function prepare(a: Served, b: Served, app: string) {
  const files = await mnistModelFiles('mlp-small', 5);
  expect((await pushModel(a.f, adminKey, app, files, 'production')).status).toBe(201);
  expect((await pushModel(a.f, adminKey, app, files, 'candidate')).status).toBe(201);
  const device = await registerDevice(b.f, app);
  const res = await openEvents(device, b.f, app);
  expect(res.status).toBe(200);
  const stream = sseReader(res);
  const first = await stream.until(5_000, (e) => e.event === 'manifest');
  expect(first.map((e) => e.event)).toEqual(['hello', 'manifest']);
  expect(first[0].data.heartbeatMs).toBe(DEFAULT_HEARTBEAT_MS);
  expect(first[1].data.version).toBe(1);
  return { device, stream, connectedAt: Date.now(), firstGeneration: first[1].data.generation as number };
}

async function promote(a: Served, app: string, version: number): Promise<number> {
  const res = await a.f(`/v1/admin/models/${app}/versions/${version}/stage`, {
    method: 'POST',
    headers: adminJson,
    body: JSON.stringify({ stage: 'production', reason: 'fan-out test' }),
  });
  expect(res.status).toBe(200);
  return Date.now();
}

describe.skipIf(skip)('manifest changes reach SSE clients on another coordinator', () => {
  beforeAll(async () => {
    db = await createTestDatabase('sse_fanout');
  });
  afterAll(async () => {
    for (const n of nodes) await n.close();
    await db?.drop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('delivers a change made on A to a device streaming from B in well under the heartbeat, and resumes with Last-Event-ID', async () => {
    const pg = (name: string) =>
      openPostgresManifestEvents({ connectionString: db!.url, applicationName: `flock-${name}` });
    const a = await startNode('a', await pg('a'));
    const b = await startNode('b', await pg('b'));
    const { device, stream, connectedAt, firstGeneration } = await prepare(a, b, 'digits');

    const changedAt = await promote(a, 'digits', 2);
    const seen = await stream.until(FANOUT_DEADLINE_MS, (e) => e.event === 'manifest');
    const arrivedAt = Date.now();
    expect(seen.map((e) => e.event)).toEqual(['manifest']);
    expect(seen[0].data).toMatchObject({ version: 2 });
    const generation = seen[0].data.generation as number;
    expect(generation).toBeGreaterThan(firstGeneration);
    expect(seen[0].id).toBe(`g${generation}`);
    // Within the first heartbeat period of the stream, so no heartbeat re-check ran.
    expect(arrivedAt - connectedAt).toBeLessThan(DEFAULT_HEARTBEAT_MS);
    expect(arrivedAt - changedAt).toBeLessThan(FANOUT_DEADLINE_MS);
    await stream.cancel();

    // Reconnecting with Last-Event-ID: the current manifest, once.
    const again = await openEvents(device, b.f, 'digits', `g${generation}`);
    expect(again.status).toBe(200);
    const resumed = sseReader(again);
    const events = await resumed.until(1_500, () => false);
    await resumed.cancel();
    expect(events.map((e) => e.event)).toEqual(['hello', 'manifest']);
    expect(events[1].data).toMatchObject({ generation, version: 2, resumedFrom: `g${generation}` });
  });

  it('control: with in-process events on each coordinator, B does not hear A within the same deadline', async () => {
    const a = await startNode('ca', inProcessManifestEvents());
    const b = await startNode('cb', inProcessManifestEvents());
    const { stream, connectedAt } = await prepare(a, b, 'faces');
    await promote(a, 'faces', 2);
    const seen = await stream.until(FANOUT_DEADLINE_MS, (e) => e.event === 'manifest');
    expect(Date.now() - connectedAt).toBeLessThan(DEFAULT_HEARTBEAT_MS);
    expect(seen).toEqual([]);
    await stream.cancel();
  });
});
