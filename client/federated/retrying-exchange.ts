/**
 * One HTTP exchange with the transport's retry rules: network errors,
 * timeouts, 429 and 5xx are retried with jittered exponential backoff
 * (Retry-After wins when the server sends one, up to the policy's cap); other
 * 4xx are never retried, since the same request would fail the same way. The
 * whole body is read inside the timeout, so a stalled download is a timeout too.
 */
import { backoffDelayMs, isRetryableStatus, parseRetryAfterSeconds, type RetryPolicy } from './retry-policy.ts';
import { FlockHttpError, errorFromAnswer } from './transport-error.ts';

/** A request, with its absolute URL and every header (credentials included). */
export interface ExchangeSpec {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
  timeoutMs: number;
  /** Overrides the policy's retries (0: one attempt). */
  retries?: number;
}

/** A 2xx or 304 answer, body read whole. */
export interface Exchange {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

export interface ExchangeEnv {
  fetch: typeof fetch;
  retry: RetryPolicy;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
}

const utf8 = new TextDecoder();

/** Sends `spec` until it gets a 2xx/304 or a final error (FlockHttpError). */
export async function exchangeWithRetries(spec: ExchangeSpec, env: ExchangeEnv): Promise<Exchange> {
  for (let attempt = 0; ; attempt++) {
    const last = attempt >= (spec.retries ?? env.retry.retries);
    let response: Response;
    let body: Uint8Array;
    try {
      // One timeout covers the whole exchange, body included: a stalled download is a timeout too.
      response = await env.fetch(spec.url, {
        method: spec.method,
        headers: spec.headers,
        body: spec.body as BodyInit | undefined,
        signal: AbortSignal.timeout(spec.timeoutMs),
      });
      body = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      if (last) {
        throw timedOut
          ? new FlockHttpError(
              0,
              'timeout',
              `${spec.method} ${spec.url} got no answer within ${spec.timeoutMs} ms (${attempt + 1} attempts); check the network or raise the timeout`,
              { cause: error },
            )
          : new FlockHttpError(
              0,
              'network_error',
              `${spec.method} ${spec.url} failed (${attempt + 1} attempts): ${(error as Error).message}; is the coordinator reachable?`,
              { cause: error },
            );
      }
      await env.sleep(backoffDelayMs(attempt, env.retry, env.random));
      continue;
    }
    if (response.ok || response.status === 304) return { status: response.status, headers: response.headers, body };
    const retryAfterSeconds = parseRetryAfterSeconds(response.headers.get('retry-after'));
    const serverWaitOk = retryAfterSeconds === undefined || retryAfterSeconds * 1000 <= env.retry.maxRetryAfterMs;
    if (!last && isRetryableStatus(response.status) && serverWaitOk) {
      await env.sleep(
        retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : backoffDelayMs(attempt, env.retry, env.random),
      );
      continue;
    }
    throw errorFromAnswer(spec.method, spec.url, response.status, utf8.decode(body), retryAfterSeconds);
  }
}
