/**
 * Shadow manifests against a real coordinator on loopback and the SDK's own
 * manifest code (client/model-loader.ts, client/shadow-loader.ts) over real
 * HTTP: the shadow manifest is issued once per rollout with its own purpose
 * and generation sequence; replayed as the app's manifest it is refused
 * (nothing is installed, the active version stays), a model manifest offered
 * as the shadow is refused too, and only a manifest whose rollout runs a
 * shadow sends the device to the shadow route.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlockTransport, type ManifestAnswer } from '../../client/federated/transport.ts';
import { syncModel } from '../../client/model-loader.ts';
import { loadShadow, shadowAdvertised, type ShadowAssignment } from '../../client/shadow-loader.ts';
import { createMemoryStore } from '../../client/storage/index.ts';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { manifestFor } from '../../coordinator/registry/publish.ts';
import {
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
  type FleetDevice,
} from '../../coordinator/routes/fleet.fixture.ts';
import { ManifestError, signManifest, type SignedManifest } from '../../shared/manifest/index.ts';

const adminKey = testAdminKey();
const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
let dataDir: string;
let flock: Coordinator;
let server: ReturnType<typeof serve>;
let baseUrl: string;
let publicKey: string;
let device: FleetDevice;

/** A transport that answers the manifest request with `signed`: a cache or proxy replaying another manifest. */
class ReplayingTransport extends FlockTransport {
  constructor(
    private readonly signed: SignedManifest,
    token: string,
  ) {
    super({ baseUrl, token });
  }
  override async getManifest(): Promise<ManifestAnswer> {
    return { status: 'modified', signedManifest: this.signed, etag: null };
  }
}

const request = async (path: string, init?: RequestInit): Promise<Response> => flock.app.request(path, init);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-shadow-manifest-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    aggregationBackend: 'cpu',
  });
  server = serve({ fetch: flock.app.fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const files = await mnistModelFiles('mlp-small');
  expect((await pushModel(request, adminKey, 'digits', files, 'production')).status).toBe(201); // v1
  expect((await pushModel(request, adminKey, 'digits', files)).status).toBe(201); // v2: candidate
  expect((await pushModel(request, adminKey, 'digits', files)).status).toBe(201); // v3: shadow
  publicKey = ((await (await fetch(`${baseUrl}/v1/keys/manifest`)).json()) as { publicKey: string }).publicKey;
  device = await registerDevice(request, 'digits');
}, 120_000);

afterAll(async () => {
  server?.close();
  if (server && 'closeAllConnections' in server) server.closeAllConnections();
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('shadow manifests', () => {
  it('are issued once with their own purpose and generation, refused as the model, and advertised only by rollouts that run one', async () => {
    const store = createMemoryStore();
    const transport = new FlockTransport({ baseUrl, token: device.token });
    const first = await syncModel({ transport, store, app: 'digits', publicKey, slowBackend: false });
    expect(first.status).toBe('updated');
    if (first.status !== 'updated') return;
    first.loaded.model.dispose();
    expect(first.loaded.stored.version).toBe(1);
    expect(shadowAdvertised(first.loaded.stored.manifest)).toBe(false);

    // A rollout without a shadow: its manifests do not advertise one.
    const plain = await request('/v1/admin/rollouts', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ app: 'digits', candidateVersion: 2, minStageSeconds: 3600 }),
    });
    expect(plain.status).toBe(201);
    const plainId = ((await plain.json()) as { id: string }).id;
    const during = await transport.getManifest('digits');
    expect(during.status === 'modified' && during.signedManifest.manifest.rollout?.id).toBe(plainId);
    expect(during.status === 'modified' && shadowAdvertised(during.signedManifest.manifest)).toBe(false);
    expect(
      (
        await request(`/v1/admin/rollouts/${plainId}/abort`, {
          method: 'POST',
          headers: admin,
          body: JSON.stringify({ reason: 'test' }),
        })
      ).status,
    ).toBe(200);

    const started = await request('/v1/admin/rollouts', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        app: 'digits',
        candidateVersion: 2,
        minStageSeconds: 3600,
        shadow: { version: 3, sampleRate: 0.25 },
      }),
    });
    expect(started.status).toBe(201);
    const rolloutId = ((await started.json()) as { id: string }).id;
    const model = await transport.getManifest('digits');
    if (model.status !== 'modified') throw new Error('expected a manifest body');
    expect(model.signedManifest.manifest.rollout).toMatchObject({ id: rolloutId, shadow: true });
    expect(model.signedManifest.manifest.purpose).toBeUndefined();

    const assignment = (await new FlockTransport({ baseUrl, token: device.token }).getShadowAssignment(
      'digits',
    )) as ShadowAssignment;
    expect(assignment).toMatchObject({ version: 3, sampleRate: 0.25, rolloutId });
    const shadow = assignment.manifest as SignedManifest;
    expect(shadow.manifest.purpose).toBe('shadow');
    expect(shadow.manifest.rollout).toEqual({ id: rolloutId, cohort: 'shadow' });
    // Its own sequence: the first shadow manifest of the app, whatever the model generations are.
    expect(shadow.manifest.generation).toBe(1);
    expect(model.signedManifest.manifest.generation).toBeGreaterThan(1);
    // Issued once: the same signed bytes on every request, not a fresh signature each time.
    expect(
      ((await new FlockTransport({ baseUrl, token: device.token }).getShadowAssignment('digits')) as ShadowAssignment)
        .manifest,
    ).toEqual(shadow);

    // The SDK runs it as a shadow...
    const loaded = await loadShadow(transport, assignment, publicKey, 'digits', false);
    expect(loaded.version).toBe(3);
    loaded.model.dispose();

    // ...and refuses it replayed as the app's model: nothing downloaded or activated.
    const replayed = syncModel({
      transport: new ReplayingTransport(shadow, device.token),
      store,
      app: 'digits',
      publicKey,
      slowBackend: false,
    });
    await expect(replayed).rejects.toBeInstanceOf(ManifestError);
    await expect(replayed).rejects.toMatchObject({ code: 'wrong_purpose' });
    expect((await store.getPointer('digits')).activeVersion).toBe(1);
    expect(await store.getModel('digits', 3)).toBeUndefined();

    // A shadow manifest from before `purpose` (cohort 'shadow' only), signed with the coordinator's key, is refused too.
    const v3 = await flock.deps.store.getModelVersion('digits', 3);
    const legacy = await signManifest(
      { ...manifestFor(v3!, 99), rollout: { id: rolloutId, cohort: 'shadow' } },
      flock.deps.signing.privateKey,
      flock.deps.signing.keyId,
    );
    await expect(
      syncModel({
        transport: new ReplayingTransport(legacy, device.token),
        store,
        app: 'digits',
        publicKey,
        slowBackend: false,
      }),
    ).rejects.toMatchObject({ code: 'wrong_purpose' });
    expect((await store.getPointer('digits')).activeVersion).toBe(1);

    // A model manifest offered as the shadow is refused.
    await expect(
      loadShadow(
        transport,
        { ...assignment, version: model.signedManifest.manifest.version, manifest: model.signedManifest },
        publicKey,
        'digits',
        false,
      ),
    ).rejects.toMatchObject({ code: 'wrong_purpose' });

    // After the rollout, the app's manifest no longer advertises a shadow.
    expect(
      (
        await request(`/v1/admin/rollouts/${rolloutId}/abort`, {
          method: 'POST',
          headers: admin,
          body: JSON.stringify({ reason: 'test' }),
        })
      ).status,
    ).toBe(200);
    const after = await transport.getManifest('digits');
    expect(after.status === 'modified' && shadowAdvertised(after.signedManifest.manifest)).toBe(false);
  }, 120_000);
});
