/**
 * Telemetry goes through the same IndexedDB outbox as updates, so a batch
 * recorded offline is sent when the network returns. One entry per batch;
 * the outbox drops the oldest telemetry first when it is full, never updates.
 */
import { TelemetryBatchSchema, type TelemetryBatch } from '../../shared/protocol/index.ts';
import type { ClientStore, OutboxEntry } from '../storage/index.ts';

/**
 * @example
 * const batch = recorder.take({ deviceId, app, modelVersion });
 * if (batch) await enqueueTelemetry(store, url, batch);
 */
export async function enqueueTelemetry(
  store: ClientStore,
  baseUrl: string,
  batch: TelemetryBatch,
): Promise<OutboxEntry> {
  // Validate here: a batch the coordinator would refuse should fail loudly in development, not loop in the outbox.
  const valid = TelemetryBatchSchema.parse(batch);
  return store.enqueueOutbox({
    id: `telemetry:${valid.deviceId}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}`,
    kind: 'telemetry',
    method: 'POST',
    url: `${baseUrl.replace(/\/+$/, '')}/v1/telemetry`,
    headers: { 'content-type': 'application/json' },
    body: new TextEncoder().encode(JSON.stringify(valid)),
  });
}
