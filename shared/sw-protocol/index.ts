/**
 * Messages between pages and the Flock service worker. The window side and
 * the service worker never import each other's code; both import these
 * envelopes `{ type, meta, payload }` and their runtime guards. Requests go
 * over a MessageChannel whose port 2 travels with the message; the worker
 * answers on that port, always (an `error` reply rather than silence).
 */

/** Sent by a page; `meta.id` pairs the reply with the request. */
export type SwRequest =
  | { type: 'predict'; meta: SwRequestMeta; payload: { input: number[] } }
  | { type: 'status'; meta: SwRequestMeta; payload: Record<string, never> };

export interface SwRequestMeta {
  id: string;
  /** Epoch ms when the page sent it. */
  sentAt: number;
}

export interface SwReplyMeta {
  id: string;
  /** Always 'service-worker': lets a page prove the answer did not come from itself. */
  answeredBy: 'service-worker';
  /** The precache build the answering worker runs. */
  shellVersion: string;
}

export interface SwPrediction {
  label: number;
  confidence: number;
  probabilities: number[];
  backend: string;
  modelVersion: number | null;
  latencyMs: number;
}

export interface SwStatus {
  backend: string | null;
  modelVersion: number | null;
  connected: boolean;
}

export type SwErrorCode = 'bad_request' | 'no_model' | 'predict_failed' | 'timeout' | 'no_worker';

export type SwReply =
  | { type: 'predict-result'; meta: SwReplyMeta; payload: SwPrediction }
  | { type: 'status-result'; meta: SwReplyMeta; payload: SwStatus }
  | { type: 'error'; meta: SwReplyMeta; payload: { code: SwErrorCode; message: string } };

/** The message workbox-window's `messageSkipWaiting()` sends. */
export const SKIP_WAITING = 'SKIP_WAITING';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasRequestMeta(value: Record<string, unknown>): boolean {
  const meta = value.meta;
  return (
    isRecord(meta) &&
    typeof meta.id === 'string' &&
    meta.id.length > 0 &&
    meta.id.length <= 128 &&
    typeof meta.sentAt === 'number'
  );
}

/**
 * Runtime guard for requests (the worker answers anything else with `bad_request`).
 *
 * @example
 * if (!isSwRequest(event.data)) port.postMessage(errorReply(...));
 */
export function isSwRequest(value: unknown): value is SwRequest {
  if (!isRecord(value) || !hasRequestMeta(value) || !isRecord(value.payload)) return false;
  if (value.type === 'status') return true;
  if (value.type !== 'predict') return false;
  const input = value.payload.input;
  return (
    Array.isArray(input) &&
    input.length > 0 &&
    input.length <= 1 << 20 &&
    input.every((v) => typeof v === 'number' && Number.isFinite(v))
  );
}

/**
 * Runtime guard for replies, checked by the page before trusting one.
 *
 * @example
 * port.onmessage = (e) => isSwReply(e.data) && resolve(e.data);
 */
export function isSwReply(value: unknown): value is SwReply {
  if (!isRecord(value) || !isRecord(value.meta) || !isRecord(value.payload)) return false;
  if (typeof value.meta.id !== 'string' || value.meta.answeredBy !== 'service-worker') return false;
  if (value.type === 'predict-result')
    return typeof value.payload.label === 'number' && Array.isArray(value.payload.probabilities);
  if (value.type === 'status-result') return typeof value.payload.connected === 'boolean';
  if (value.type === 'error')
    return typeof value.payload.code === 'string' && typeof value.payload.message === 'string';
  return false;
}

/**
 * A fresh request envelope.
 *
 * @example
 * const req = swRequest('predict', { input: Array.from(pixels) });
 */
export function swRequest<T extends SwRequest['type']>(
  type: T,
  payload: Extract<SwRequest, { type: T }>['payload'],
): Extract<SwRequest, { type: T }> {
  const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  return { type, meta: { id, sentAt: Date.now() }, payload } as Extract<SwRequest, { type: T }>;
}

// ---- background sync (appended: training and outbox replay with no page open) ----

/** Sync tag whose event replays the update outbox. */
export const OUTBOX_SYNC_TAG = 'flock-outbox';
/** Sync / periodic-sync tag whose event takes part in one training round. */
export const TRAIN_SYNC_TAG = 'flock-train';

/** A page tells the worker which tasks to train in the background; the worker persists them. */
export interface SwTrainConfigRequest {
  type: 'train-config';
  meta: SwRequestMeta;
  payload: { tasks: string[] };
}

/** The worker's answer: the task ids it now keeps. */
export interface SwTrainConfigReply {
  type: 'train-config-result';
  meta: SwReplyMeta;
  payload: { tasks: string[] };
}

/**
 * Runtime guard for `train-config` requests (at most 32 task ids of 1-128 characters).
 *
 * @example
 * if (isSwTrainConfigRequest(event.data)) await saveTasks(event.data.payload.tasks);
 */
export function isSwTrainConfigRequest(value: unknown): value is SwTrainConfigRequest {
  if (!isRecord(value) || value.type !== 'train-config' || !hasRequestMeta(value) || !isRecord(value.payload))
    return false;
  const tasks = value.payload.tasks;
  return (
    Array.isArray(tasks) &&
    tasks.length <= 32 &&
    tasks.every((t) => typeof t === 'string' && t.length > 0 && t.length <= 128)
  );
}

/**
 * A fresh `train-config` request.
 *
 * @example
 * navigator.serviceWorker.controller.postMessage(swTrainConfigRequest(['task_1']), [channel.port2]);
 */
export function swTrainConfigRequest(tasks: string[]): SwTrainConfigRequest {
  return {
    type: 'train-config',
    meta: { id: swRequest('status', {}).meta.id, sentAt: Date.now() },
    payload: { tasks },
  };
}
