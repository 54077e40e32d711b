/**
 * Test fixture: a tiny fleet speaking the wire contract (docs/wire.md) to a
 * coordinator, through any fetch-shaped function: `app.request` for route
 * tests, `fetch` on a base URL for the crash test and the ingest bench.
 * It builds requests only; every assertion stays in the tests.
 */
import { encodeTensors, type TensorEncodingSpec } from '../../shared/codec/index.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import {
  UPDATE_META_HEADER,
  type CheckInResponse,
  type TaskPlanInput,
  type UpdateMeta,
} from '../../shared/protocol/index.ts';
import { adminClient, type AdminApi } from '../admin-client.ts';
import { newSecret } from '../auth/secrets.ts';

/** `app.request` and `fetch` both fit. */
export type Fetcher = (path: string, init?: RequestInit) => Promise<Response>;

export interface FleetDevice {
  deviceId: string;
  token: string;
}

/** A fresh admin key in the format FLOCK_ADMIN_KEY expects. */
export const testAdminKey = (): string => newSecret('admin', 'key_test');

/** A fetcher bound to a base URL (real server on loopback). */
export const httpFetcher =
  (base: string): Fetcher =>
  (path, init) =>
    fetch(base + path, init);

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

export { mnistModelFiles } from '../registry/model-directory.ts';

/**
 * The typed admin client (coordinator/admin-client.ts) over a fixture fetcher; no timeout worth
 * hitting, so a slow CI machine fails on the test's own timeout, not here.
 * @example const { tasks } = await adminAnswer(fleetAdmin(f, adminKey).v1.admin.tasks.$get());
 */
export function fleetAdmin(f: Fetcher, adminKey: string): AdminApi {
  return adminClient({
    baseUrl: 'http://fleet.fixture',
    adminKey,
    timeoutMs: 3_600_000,
    fetch: (url, init) => {
      const { pathname, search } = new URL(url);
      return f(pathname + search, init);
    },
  });
}

/**
 * `POST /v1/admin/models/:app` as multipart (field name = file name), sent typed; the answer as a plain
 * Response, since tests assert refusals (4xx bodies) as often as the 201.
 */
export function pushModel(
  f: Fetcher,
  adminKey: string,
  app: string,
  files: Map<string, Uint8Array>,
  stage?: string,
): Promise<Response> {
  const form = new FormData();
  for (const [name, bytes] of files) form.append(name, new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  if (stage) form.append('stage', stage);
  return fleetAdmin(f, adminKey).v1.admin.models[':app'].$post(
    { param: { app } },
    { init: { body: form } },
  ) as Promise<Response>;
}

/** `POST /v1/admin/tasks`, sent typed; the answer as a plain Response (201 with the task view, or a refusal). */
export function createTask(
  f: Fetcher,
  adminKey: string,
  app: string,
  modelVersion: number,
  plan: TaskPlanInput,
): Promise<Response> {
  return fleetAdmin(f, adminKey).v1.admin.tasks.$post({ json: { app, modelVersion, plan } }) as Promise<Response>;
}

/** `POST /v1/devices`; throws unless 201. */
export async function registerDevice(f: Fetcher, app: string): Promise<FleetDevice> {
  const res = await f('/v1/devices', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ app, platform: { runtime: 'node' } }),
  });
  if (res.status !== 201) throw new Error(`registration answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { deviceId: string; token: string };
  return { deviceId: body.deviceId, token: body.token };
}

/** `POST /v1/tasks/:taskId/checkin`; returns status, Retry-After and the parsed answer. */
export async function checkIn(
  f: Fetcher,
  device: FleetDevice,
  taskId: string,
  numExamples = 100,
): Promise<{ status: number; retryAfter: string | null; body: CheckInResponse }> {
  const res = await f(`/v1/tasks/${taskId}/checkin`, {
    method: 'POST',
    headers: { ...bearer(device.token), 'content-type': 'application/json' },
    body: JSON.stringify({ deviceId: device.deviceId, taskId, numExamples }),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as CheckInResponse,
  };
}

/** Update metadata with sensible defaults. */
export function updateMeta(roundId: string, deviceId: string, extra: Partial<UpdateMeta> = {}): UpdateMeta {
  return { roundId, deviceId, numExamples: 100, preClipNorm: 0.5, epochs: 1, encoding: 'fp32', ...extra };
}

/** `PUT /v1/rounds/:roundId/updates` with raw bytes and a raw meta header (so tests can send malformed ones). */
export function putUpdate(
  f: Fetcher,
  token: string,
  roundId: string,
  bytes: Uint8Array,
  metaHeader: string | null,
): Promise<Response> {
  const headers: Record<string, string> = { ...bearer(token), 'content-type': 'application/octet-stream' };
  if (metaHeader !== null) headers[UPDATE_META_HEADER] = metaHeader;
  return f(`/v1/rounds/${roundId}/updates`, { method: 'PUT', headers, body: bytes as Uint8Array<ArrayBuffer> });
}

/**
 * A delta for every weight of `specs` whose entry i of tensor t is `value(t, i)`.
 * @example const tensors = deltaTensors(specs, (t, i) => 0.001 * ((i % 7) - 3));
 */
export function deltaTensors(
  specs: readonly WeightSpec[],
  value: (tensor: number, index: number) => number,
): { name: string; shape: number[]; data: Float32Array }[] {
  return specs.map((spec, t) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = value(t, i);
    return { name: spec.name, shape: [...spec.shape], data };
  });
}

/** Encodes tensors as an update body. */
export const encodeUpdate = (
  tensors: { name: string; shape: number[]; data: Float32Array }[],
  spec: TensorEncodingSpec = { encoding: 'fp32' },
): Uint8Array => encodeTensors(tensors, spec);
