/**
 * `GET /v1/admin/apps/:app/devices/census`: how an app's fleet looks, as
 * counts an operator can read at a glance: devices by backend, by the model
 * version they last reported, and by how long ago they were last seen. The
 * device list itself (`/v1/admin/devices`) is one page of rows; this reads
 * every device of the app and the last day of telemetry (capped).
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { AppNameSchema } from '../../shared/protocol/index.ts';
import type { CoordinatorDeps } from '../deps.ts';
import type { Env } from '../http/env.ts';
import { validationHook } from '../http/hooks.ts';
import type { Device, Store, TelemetryEvent } from '../store/index.ts';

/** How far back "the version a device last reported" looks. */
export const CENSUS_TELEMETRY_WINDOW_MS = 86_400_000;
/** Telemetry rows read per census; past this the newest rows are not seen (the census says so). */
export const CENSUS_MAX_TELEMETRY_ROWS = 50_000;
/** Devices read per census. */
export const CENSUS_MAX_DEVICES = 100_000;
const PAGE = 1000;

/** Last-seen buckets, upper bounds in ms; the last one is everything older. */
export const LAST_SEEN_BUCKETS = [
  ['under 5 min', 5 * 60_000],
  ['under 1 h', 3_600_000],
  ['under 24 h', 86_400_000],
  ['under 7 days', 7 * 86_400_000],
  ['older', Number.POSITIVE_INFINITY],
] as const;

export interface DeviceCensus {
  app: string;
  devices: number;
  byBackend: Record<string, number>;
  /** Key: the version as a string, or 'none' for devices with no telemetry in the window. */
  byVersion: Record<string, number>;
  byLastSeen: Record<string, number>;
  /** True when the telemetry cap was hit and some devices' latest version may be older than shown. */
  truncated: boolean;
}

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

/**
 * Pure: devices and their telemetry rows (oldest first) -> counts.
 * @example
 * censusOf('digits', devices, rows, new Date()).byBackend; // { webgpu: 3, wasm: 9 }
 */
export function censusOf(
  app: string,
  devices: readonly Device[],
  rows: readonly TelemetryEvent[],
  now: Date,
  truncated = false,
): DeviceCensus {
  const latest = new Map<string, { version: number | null; backend: unknown }>();
  for (const r of rows)
    latest.set(r.deviceId, {
      version: r.version ?? latest.get(r.deviceId)?.version ?? null,
      backend: r.payload.backend ?? latest.get(r.deviceId)?.backend,
    });
  // Record keys are device-sent strings (a backend name): null-prototype records.
  const census: DeviceCensus = {
    app,
    devices: devices.length,
    byBackend: Object.create(null),
    byVersion: Object.create(null),
    byLastSeen: Object.create(null),
    truncated,
  };
  for (const [label] of LAST_SEEN_BUCKETS) census.byLastSeen[label] = 0;
  for (const d of devices) {
    const seen = latest.get(d.deviceId);
    const backend =
      typeof seen?.backend === 'string'
        ? seen.backend
        : typeof d.capabilities.backend === 'string'
          ? d.capabilities.backend
          : 'unknown';
    bump(census.byBackend, backend.slice(0, 32));
    bump(census.byVersion, seen?.version == null ? 'none' : String(seen.version));
    const age = now.getTime() - Date.parse(d.lastSeenAt);
    bump(
      census.byLastSeen,
      (LAST_SEEN_BUCKETS.find(([, bound]) => age < bound) ?? LAST_SEEN_BUCKETS[LAST_SEEN_BUCKETS.length - 1])[0],
    );
  }
  return census;
}

async function readCensus(store: Store, app: string, now: Date): Promise<DeviceCensus> {
  const devices: Device[] = [];
  for (let offset = 0; devices.length < CENSUS_MAX_DEVICES; offset += PAGE) {
    const page = await store.listDevices({ app, limit: PAGE, offset });
    devices.push(...page);
    if (page.length < PAGE) break;
  }
  const since = new Date(now.getTime() - CENSUS_TELEMETRY_WINDOW_MS).toISOString();
  const rows: TelemetryEvent[] = [];
  let afterId: number | undefined;
  let truncated = false;
  for (;;) {
    const page = await store.listTelemetry({ app, since, afterId, limit: PAGE });
    rows.push(...page);
    if (page.length < PAGE) break;
    if (rows.length >= CENSUS_MAX_TELEMETRY_ROWS) {
      truncated = true;
      break;
    }
    afterId = page[page.length - 1].id;
  }
  return censusOf(app, devices, rows, now, truncated);
}

const Counts = z.record(z.string(), z.int());

export function deviceCensusRoutes(deps: CoordinatorDeps) {
  return new OpenAPIHono<Env>({ defaultHook: validationHook }).openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/apps/{app}/devices/census',
      tags: ['admin'],
      request: { params: z.object({ app: AppNameSchema }) },
      responses: {
        200: {
          description: 'device counts by backend, last reported version (24 h) and last seen',
          content: {
            'application/json': {
              schema: z.object({
                app: z.string(),
                devices: z.int(),
                byBackend: Counts,
                byVersion: Counts,
                byLastSeen: Counts,
                truncated: z.boolean(),
              }),
            },
          },
        },
      },
    }),
    async (c) => c.json(await readCensus(deps.store, c.req.valid('param').app, new Date(deps.clock.now())), 200),
  );
}
