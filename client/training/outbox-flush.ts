/**
 * The update outbox: a trained update is written to the store's outbox before
 * the first upload attempt, so a closed tab, a crash or a lost network never
 * loses it; `flushOutbox` sends what is due. The coordinator keeps one update
 * per (round, device) and answers a replay with the first receipt, so sending
 * an entry twice is harmless — that is what makes retrying safe.
 */
import {
  UPDATE_META_HEADER,
  UpdateReceiptSchema,
  encodeUpdateMeta,
  isErrorBody,
  type UpdateMeta,
  type UpdateReceipt,
} from '../../shared/protocol/index.ts';
import {
  DEFAULT_RETRY_POLICY,
  backoffDelayMs,
  isRetryableStatus,
  parseRetryAfterSeconds,
} from '../federated/retry-policy.ts';
import type { QueuedAnswer } from '../federated/device-answers.ts';
import type { FlockTransport } from '../federated/transport.ts';
import type { ClientStore, OutboxEntry } from '../storage/index.ts';

/** The outbox id of a round's update; the same round and device always map to the same entry. */
export function updateOutboxId(roundId: string, deviceId: string): string {
  return `update:${roundId}:${deviceId}`;
}

/**
 * Queue an update for upload (replacing an entry of the same round and device).
 *
 * @example
 * await enqueueUpdate(store, baseUrl, bytes, meta);
 * await flushOutbox({ store, transport });
 */
export async function enqueueUpdate(
  store: ClientStore,
  baseUrl: string,
  bytes: Uint8Array,
  meta: UpdateMeta,
): Promise<OutboxEntry> {
  return store.enqueueOutbox({
    id: updateOutboxId(meta.roundId, meta.deviceId),
    kind: 'update',
    method: 'PUT',
    url: `${baseUrl.replace(/\/+$/, '')}/v1/rounds/${encodeURIComponent(meta.roundId)}/updates`,
    headers: { 'content-type': 'application/octet-stream', [UPDATE_META_HEADER]: encodeUpdateMeta(meta) },
    body: bytes,
  });
}

export type FlushOutcome =
  | { id: string; status: 'uploaded'; receipt: UpdateReceipt }
  | { id: string; status: 'sent' }
  | { id: string; status: 'dropped'; code: string; message: string }
  | { id: string; status: 'rescheduled'; error: string; nextAttemptAt: number };

export interface FlushOptions {
  store: ClientStore;
  /** Sends each entry once, adding the device token it carries (tokens are never stored in the outbox). */
  transport: FlockTransport;
  /** Per-request timeout (default 120 s). */
  timeoutMs?: number;
  now?: () => number;
  random?: () => number;
  /** Which entries to send (default updates and telemetry). */
  kinds?: ReadonlyArray<OutboxEntry['kind']>;
  /**
   * Send entries still waiting out their backoff too: the network just came
   * back ('online'), so the delay earned while it was down means nothing.
   */
  ignoreBackoff?: boolean;
}

async function sendOnce(entry: OutboxEntry, options: FlushOptions): Promise<FlushOutcome> {
  const now = options.now ?? Date.now;
  const later = (error: string, retryAfterSeconds?: number): FlushOutcome => {
    const wait =
      retryAfterSeconds !== undefined
        ? retryAfterSeconds * 1000
        : backoffDelayMs(
            entry.attempts,
            { ...DEFAULT_RETRY_POLICY, maxDelayMs: 5 * 60_000 },
            options.random ?? Math.random,
          );
    return { id: entry.id, status: 'rescheduled', error, nextAttemptAt: now() + wait };
  };
  let response: QueuedAnswer;
  try {
    response = await options.transport.sendQueued(entry, options.timeoutMs ?? 120_000);
  } catch (error) {
    return later(`network: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { text } = response;
  const ok = response.status >= 200 && response.status < 300;
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // A proxy's HTML error page: judged by the status alone.
  }
  if (ok && entry.kind === 'telemetry') return { id: entry.id, status: 'sent' };
  if (ok) {
    const receipt = UpdateReceiptSchema.safeParse(json);
    if (receipt.success) return { id: entry.id, status: 'uploaded', receipt: receipt.data };
    return later(`answer ${response.status} is not an update receipt`);
  }
  const code = isErrorBody(json) ? json.error.code : `http_${response.status}`;
  const message = isErrorBody(json) ? json.error.message : text.slice(0, 200);
  // 429 and 5xx may pass later; any other refusal (round_closed, late_upload,
  // norm_exceeded, ...) would be repeated verbatim, so the update is dropped.
  if (isRetryableStatus(response.status)) {
    return later(`${response.status} ${code}: ${message}`, parseRetryAfterSeconds(response.headers.get('retry-after')));
  }
  return { id: entry.id, status: 'dropped', code, message };
}

/**
 * Sends every due outbox update once: uploaded and refused-for-good entries
 * leave the outbox, the rest are rescheduled with jittered backoff.
 *
 * @example
 * window.addEventListener('online', () => void flushOutbox({ store, transport, ignoreBackoff: true }));
 */
export async function flushOutbox(options: FlushOptions): Promise<FlushOutcome[]> {
  const outcomes: FlushOutcome[] = [];
  for (const entry of await options.store.dueOutbox(100, options.ignoreBackoff ? Infinity : undefined)) {
    if (!(options.kinds ?? ['update', 'telemetry']).includes(entry.kind)) continue;
    const outcome = await sendOnce(entry, options);
    if (outcome.status === 'rescheduled')
      await options.store.rescheduleOutbox(entry.id, outcome.nextAttemptAt, outcome.error);
    else await options.store.removeOutbox(entry.id);
    outcomes.push(outcome);
  }
  return outcomes;
}
