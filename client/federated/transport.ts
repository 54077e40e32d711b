/**
 * A small typed HTTP client for the device side of the Flock wire contract
 * (docs/wire.md) over `fetch`, so it runs unchanged in pages, workers and
 * Node: registration, the signed manifest (ETag aware), the public key, blobs
 * by hash (verified before they are returned), check-in and update upload, the
 * shadow assignment, the app's tasks, the manifest event stream and the
 * outbox's queued requests. It is the one place the SDK adds the device token.
 *
 * Every request has a timeout and the retry rules of retrying-exchange.ts.
 * Answers are validated with the shared zod schemas.
 */
import { verifySha256 } from '../../shared/manifest/index.ts';
import {
  CheckInResponseSchema,
  ManifestPublicKeySchema,
  RegisterResponseSchema,
  Sha256HexSchema,
  SignedManifestSchema,
  UPDATE_META_HEADER,
  UpdateReceiptSchema,
  encodeUpdateMeta,
  SECAGG_MASKED_HEADER,
  SecAggAbortedSchema,
  SecAggAcceptedSchema,
  secAggAnswerSchema,
  secAggRoutes,
  type SecAggAborted,
  type SecAggAccepted,
  type CheckInRequest,
  type CheckInResponse,
  type ManifestPublicKey,
  type RegisterRequest,
  type RegisterResponse,
  type SignedManifest,
  type UpdateMeta,
  type UpdateReceipt,
} from '../../shared/protocol/index.ts';
import { z } from 'zod';
import type { MaskedInput } from '../../shared/secagg/messages.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.ts';
import { exchangeWithRetries, type Exchange } from './retrying-exchange.ts';
import {
  ActiveTasksSchema,
  ShadowAssignmentSchema,
  type QueuedAnswer,
  type QueuedRequest,
  type ShadowAssignment,
} from './device-answers.ts';
import { FlockHttpError } from './transport-error.ts';

export interface TransportOptions {
  /** Coordinator origin (and path prefix, if any), e.g. `https://flock.example.com`. */
  baseUrl: string;
  /** Device token (`flk_dev_…`); set later by `register()` or `setToken()`. Admin keys work on blob reads. */
  token?: string;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Per-attempt timeout for control messages (default 30 s). */
  timeoutMs?: number;
  /** Per-attempt timeout for blob downloads and update uploads (default 120 s). */
  transferTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Jitter source (default Math.random; jitter needs no CSPRNG). */
  random?: () => number;
  /** How to wait between attempts (default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
}

/** `getManifest` result: a fresh signed manifest, or "yours is current" after `If-None-Match`. */
export type ManifestAnswer =
  | { status: 'modified'; signedManifest: SignedManifest; etag: string | null }
  | { status: 'not_modified'; etag: string };

type Answer = Exchange;

interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  timeoutMs: number;
  /** Overrides the policy's retries (0: one attempt). */
  retries?: number;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const utf8 = new TextDecoder();

/**
 * The device-side HTTP client.
 *
 * @example
 * const transport = new FlockTransport({ baseUrl: 'http://127.0.0.1:8787' });
 * const { deviceId } = await transport.register({ app: 'digits', platform: { runtime: 'node' } });
 * const answer = await transport.checkIn('task_1', { deviceId, taskId: 'task_1', numExamples: 500 });
 */
export class FlockTransport {
  readonly baseUrl: string;
  #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #transferTimeoutMs: number;
  readonly #retry: RetryPolicy;
  readonly #random: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    // Bound: a browser's fetch throws "Illegal invocation" when called as a method of another object.
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#transferTimeoutMs = options.transferTimeoutMs ?? 120_000;
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? sleepFor;
  }

  /** Uses `token` as the bearer credential from now on. */
  setToken(token: string): void {
    this.#token = token;
  }

  /** `POST /v1/devices`; keeps the returned token for later requests. */
  async register(request: RegisterRequest): Promise<RegisterResponse> {
    const answer = await this.#request({
      method: 'POST',
      path: '/v1/devices',
      ...jsonBody(request),
      timeoutMs: this.#timeoutMs,
    });
    const registered = this.#parseJson(answer, RegisterResponseSchema, 'POST /v1/devices');
    this.#token = registered.token;
    return registered;
  }

  /** `GET /v1/apps/:app/manifest`; pass the last ETag to get `not_modified` instead of the body. */
  async getManifest(app: string, options: { etag?: string } = {}): Promise<ManifestAnswer> {
    const path = `/v1/apps/${encodeURIComponent(app)}/manifest`;
    const headers = options.etag ? { 'if-none-match': options.etag } : undefined;
    const answer = await this.#request({ method: 'GET', path, headers, timeoutMs: this.#timeoutMs });
    if (answer.status === 304)
      return { status: 'not_modified', etag: answer.headers.get('etag') ?? options.etag ?? '' };
    return {
      status: 'modified',
      signedManifest: this.#parseJson(answer, SignedManifestSchema, `GET ${path}`),
      etag: answer.headers.get('etag'),
    };
  }

  /** `GET /v1/keys/manifest`: the key manifests are signed with (pin it; do not re-fetch it per manifest). */
  async getPublicKey(): Promise<ManifestPublicKey> {
    const answer = await this.#request({ method: 'GET', path: '/v1/keys/manifest', timeoutMs: this.#timeoutMs });
    return this.#parseJson(answer, ManifestPublicKeySchema, 'GET /v1/keys/manifest');
  }

  /**
   * `GET /v1/blobs/:hash`. The bytes are returned only if their SHA-256 is
   * `hash`; otherwise a ManifestError('hash_mismatch') is thrown.
   */
  async getBlob(hash: string): Promise<Uint8Array> {
    if (!Sha256HexSchema.safeParse(hash).success)
      throw new RangeError(`blob address must be 64 lowercase hex digits (SHA-256), got "${hash}"`);
    const answer = await this.#request({
      method: 'GET',
      path: `/v1/blobs/${hash}`,
      timeoutMs: this.#transferTimeoutMs,
    });
    await verifySha256(answer.body, hash);
    return answer.body;
  }

  /** `POST /v1/tasks/:taskId/checkin`: an invitation to the current round, or when to ask again. */
  async checkIn(taskId: string, request: CheckInRequest): Promise<CheckInResponse> {
    const path = `/v1/tasks/${encodeURIComponent(taskId)}/checkin`;
    const answer = await this.#request({ method: 'POST', path, ...jsonBody(request), timeoutMs: this.#timeoutMs });
    return this.#parseJson(answer, CheckInResponseSchema, `POST ${path}`);
  }

  /**
   * `PUT /v1/rounds/:roundId/updates`: the codec bytes of the delta, with its
   * metadata in the `flock-update-meta` header.
   *
   * Retried like every other request: the coordinator stores at most one
   * update per (round, device) and answers a replay with the first receipt
   * (`duplicate: true`), so an upload whose answer was lost is safe to repeat.
   */
  async uploadUpdate(roundId: string, bytes: Uint8Array, meta: UpdateMeta): Promise<UpdateReceipt> {
    const path = `/v1/rounds/${encodeURIComponent(roundId)}/updates`;
    const headers = { 'content-type': 'application/octet-stream', [UPDATE_META_HEADER]: encodeUpdateMeta(meta) };
    const answer = await this.#request({
      method: 'PUT',
      path,
      headers,
      body: bytes,
      timeoutMs: this.#transferTimeoutMs,
    });
    return this.#parseJson(answer, UpdateReceiptSchema, `PUT ${path}`);
  }

  /**
   * `POST /v1/rounds/:roundId/secagg/{advertise,shares,unmask}`: one phase
   * message of a secure-aggregation round. Answers `accepted`, or `aborted`
   * with the coordinator's reason (shared/protocol/secure-aggregation-round.ts).
   */
  async sendSecAggMessage(
    route: 'advertise' | 'shares' | 'unmask',
    roundId: string,
    message: unknown,
  ): Promise<SecAggAccepted | SecAggAborted> {
    const path = secAggRoutes[route](roundId);
    const answer = await this.#request({ method: 'POST', path, ...jsonBody(message), timeoutMs: this.#timeoutMs });
    return this.#parseJson(answer, SecAggPostAnswerSchema, `POST ${path}`);
  }

  /**
   * `PUT /v1/rounds/:roundId/secagg/masked`: the masked input, its header in
   * `x-flock-secagg-masked` and `vectorLength` little-endian uint32 as the body.
   */
  async putSecAggMasked(
    roundId: string,
    header: MaskedInput,
    masked: Uint32Array,
  ): Promise<SecAggAccepted | SecAggAborted> {
    const path = secAggRoutes.masked(roundId);
    const answer = await this.#request({
      method: 'PUT',
      path,
      headers: { 'content-type': 'application/octet-stream', [SECAGG_MASKED_HEADER]: JSON.stringify(header) },
      body: littleEndianWords(masked),
      timeoutMs: this.#transferTimeoutMs,
    });
    return this.#parseJson(answer, SecAggPostAnswerSchema, `PUT ${path}`);
  }

  /**
   * `GET /v1/rounds/:roundId/secagg/{roster,shares,unmask}`: the phase's
   * message when ready, else `waiting` (with retryAfterSeconds) or `aborted`.
   */
  async getSecAggMessage<M extends z.ZodType>(
    route: 'roster' | 'shares' | 'unmask',
    roundId: string,
    message: M,
  ): Promise<z.output<ReturnType<typeof secAggAnswerSchema<M>>>> {
    const path = secAggRoutes[route](roundId);
    const answer = await this.#request({ method: 'GET', path, timeoutMs: this.#timeoutMs });
    return this.#parseJson(answer, secAggAnswerSchema(message), `GET ${path}`);
  }

  /** `GET /v1/apps/:app/shadow`: the rollout's shadow version for this device, or null when it has none (404). */
  async getShadowAssignment(app: string): Promise<ShadowAssignment | null> {
    const path = `/v1/apps/${encodeURIComponent(app)}/shadow`;
    try {
      const answer = await this.#request({ method: 'GET', path, timeoutMs: this.#timeoutMs });
      return this.#parseJson(answer, ShadowAssignmentSchema, `GET ${path}`);
    } catch (error) {
      if (error instanceof FlockHttpError && error.status === 404) return null;
      throw error;
    }
  }

  /**
   * `GET /v1/apps/:app/tasks`: the ids of the app's active training tasks.
   * One attempt within 15 s: connect() waits for it, and an offline start trains on the next connect instead.
   */
  async getActiveTasks(app: string): Promise<string[]> {
    const path = `/v1/apps/${encodeURIComponent(app)}/tasks`;
    const answer = await this.#request({ method: 'GET', path, timeoutMs: 15_000, retries: 0 });
    return this.#parseJson(answer, ActiveTasksSchema, `GET ${path}`).tasks.map((t) => t.id);
  }

  /**
   * `GET /v1/apps/:app/events`: opens the manifest event stream and returns the
   * streaming response. One attempt and no timeout: the stream stays open until
   * `signal` aborts, and the caller owns reconnecting.
   */
  async openManifestEvents(app: string, options: { lastEventId?: string; signal: AbortSignal }): Promise<Response> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId) headers['last-event-id'] = options.lastEventId;
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const url = `${this.baseUrl}/v1/apps/${encodeURIComponent(app)}/events`;
    return this.#fetch(url, { headers, signal: options.signal });
  }

  /**
   * Sends a request the outbox queued (it stores no credentials; the token is
   * added here), once: the outbox owns retrying, with backoff that survives a
   * closed tab. Network errors and timeouts reject; every status resolves.
   */
  async sendQueued(request: QueuedRequest, timeoutMs = this.#transferTimeoutMs): Promise<QueuedAnswer> {
    const headers = { ...request.headers };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const response = await this.#fetch(request.url, {
      method: request.method,
      headers,
      body: request.body as BodyInit | undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  #parseJson<S extends z.ZodType>(answer: Answer, schema: S, what: string): z.output<S> {
    let json: unknown;
    try {
      json = JSON.parse(utf8.decode(answer.body));
    } catch {
      throw new FlockHttpError(
        answer.status,
        'bad_response',
        `${what} answered ${answer.status} with a body that is not JSON`,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
      throw new FlockHttpError(
        answer.status,
        'bad_response',
        `${what} answered a message that does not match the protocol (${where}); the coordinator may speak another protocol version`,
        { details: parsed.error.issues },
      );
    }
    return parsed.data;
  }

  #request(spec: RequestSpec): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json, application/octet-stream', ...spec.headers };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    return exchangeWithRetries(
      { ...spec, url: `${this.baseUrl}${spec.path}`, headers },
      { fetch: this.#fetch, retry: this.#retry, random: this.#random, sleep: this.#sleep },
    );
  }
}

const SecAggPostAnswerSchema = z.discriminatedUnion('status', [SecAggAcceptedSchema, SecAggAbortedSchema]);

/** The words as little-endian bytes (a copy-free view on little-endian hosts, which every browser runs on). */
function littleEndianWords(words: Uint32Array): Uint8Array {
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] === 1)
    return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) view.setUint32(4 * i, words[i], true);
  return out;
}

function jsonBody(value: unknown): { headers: Record<string, string>; body: string } {
  return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}
