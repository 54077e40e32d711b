/**
 * The transport against a real HTTP server on loopback (node:http) that plays
 * scripted answers: the retry, timeout and error paths need a server that
 * misbehaves on purpose. The happy path against the real coordinator is in
 * test/integration/federated-mnist.test.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../shared/manifest/index.ts';
import { sampleManifest } from '../../shared/manifest/sample-manifest.fixture.ts';
import { backoffDelayMs, parseRetryAfterSeconds } from './retry-policy.ts';
import { FlockTransport, type TransportOptions } from './transport.ts';
import { FlockHttpError } from './transport-error.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}
type Script = (req: Seen, res: ServerResponse, n: number) => void;

let server: Server;
let baseUrl: string;
let script: Script;
let seen: Seen[];

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const flockError = (res: ServerResponse, status: number, code: string, headers: Record<string, string> = {}) =>
  json(res, status, { error: { code, message: `scripted ${code}` } }, headers);

const receipt = {
  roundId: 'rnd_1',
  deviceId: 'dev_1',
  accepted: true,
  duplicate: false,
  receivedAt: '2025-01-01T00:00:00.000Z',
};
const meta = {
  roundId: 'rnd_1',
  deviceId: 'dev_1',
  numExamples: 10,
  preClipNorm: 0.5,
  epochs: 1,
  encoding: 'fp32' as const,
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      seen.push(s);
      script(s, res, seen.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen = [];
});

const sleeps: number[] = [];
function transport(options: Partial<TransportOptions> = {}): FlockTransport {
  sleeps.length = 0;
  const record = async (ms: number) => void sleeps.push(ms);
  return new FlockTransport({
    baseUrl,
    token: 'flk_dev_x.secret',
    retry: { retries: 3, baseDelayMs: 8 },
    sleep: record,
    ...options,
  });
}

describe('FlockTransport retries', () => {
  it('retries 503 and 429 with backoff, then returns the answer', async () => {
    script = (_req, res, n) =>
      n === 1
        ? flockError(res, 503, 'internal')
        : n === 2
          ? flockError(res, 429, 'rate_limited')
          : json(res, 200, receipt);
    const bytes = new Uint8Array([1, 2, 3, 4]);
    await expect(transport().uploadUpdate('rnd_1', bytes, meta)).resolves.toEqual(receipt);
    expect(seen).toHaveLength(3);
    // The upload is repeated byte for byte, with its meta header and bearer token.
    for (const s of seen) {
      expect(s.method).toBe('PUT');
      expect(s.url).toBe('/v1/rounds/rnd_1/updates');
      expect([...s.body]).toEqual([1, 2, 3, 4]);
      expect(JSON.parse(String(s.headers['flock-update-meta']))).toMatchObject(meta);
      expect(s.headers.authorization).toBe('Bearer flk_dev_x.secret');
      expect(s.headers['content-type']).toBe('application/octet-stream');
    }
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeLessThan(8);
    expect(sleeps[1]).toBeLessThan(16);
  });

  it('waits what Retry-After says', async () => {
    script = (_req, res, n) =>
      n === 1 ? flockError(res, 503, 'internal', { 'retry-after': '2' }) : json(res, 200, receipt);
    await transport().uploadUpdate('rnd_1', new Uint8Array(4), meta);
    expect(sleeps).toEqual([2000]);
  });

  it('gives up at once when Retry-After is longer than it is willing to wait', async () => {
    script = (_req, res) => flockError(res, 429, 'rate_limited', { 'retry-after': '3600' });
    const error = await transport()
      .getPublicKey()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlockHttpError);
    expect(error).toMatchObject({ status: 429, code: 'rate_limited', retryAfterSeconds: 3600 });
    expect(seen).toHaveLength(1);
  });

  it.each([
    [400, 'validation_failed'],
    [404, 'not_found'],
    [409, 'round_closed'],
    [422, 'norm_exceeded'],
  ])('never retries a %i and keeps its code', async (status, code) => {
    script = (_req, res) => flockError(res, status, code);
    const error = await transport()
      .uploadUpdate('rnd_1', new Uint8Array(4), meta)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'FlockHttpError', status, code, message: `scripted ${code}` });
    expect(seen).toHaveLength(1);
  });

  it('reports a 5xx without a Flock body as bad_response after the last retry', async () => {
    script = (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body>Bad Gateway</body></html>');
    };
    const error = await transport()
      .getPublicKey()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 502, code: 'bad_response' });
    expect((error as Error).message).toContain('Bad Gateway');
    expect(seen).toHaveLength(4);
  });

  it('times out a silent server, retrying, then throws timeout', async () => {
    script = () => undefined; // never answers
    const started = Date.now();
    const error = await transport({ timeoutMs: 150, retry: { retries: 1, baseDelayMs: 1 } })
      .getPublicKey()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 0, code: 'timeout' });
    expect(seen).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('throws network_error when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await transport({ baseUrl: `http://127.0.0.1:${port}`, retry: { retries: 2, baseDelayMs: 1 } })
      .getPublicKey()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 0, code: 'network_error' });
    expect(sleeps).toHaveLength(2);
  });
});

describe('FlockTransport messages', () => {
  it('register keeps the returned token for later requests', async () => {
    script = (req, res) =>
      req.url === '/v1/devices'
        ? json(res, 201, {
            deviceId: 'dev_9',
            token: 'flk_dev_dev_9.abcdefghijklmnop',
            app: 'digits',
            protocolVersion: 1,
          })
        : json(res, 200, { status: 'retry', retryAfterSeconds: 30, reason: 'no_open_round' });
    const t = transport({ token: undefined });
    const registered = await t.register({ app: 'digits', platform: { runtime: 'node' } });
    expect(registered.deviceId).toBe('dev_9');
    expect(seen[0].headers.authorization).toBeUndefined();
    expect(JSON.parse(seen[0].body.toString())).toEqual({ app: 'digits', platform: { runtime: 'node' } });
    await expect(t.checkIn('task_1', { deviceId: 'dev_9', taskId: 'task_1', numExamples: 3 })).resolves.toEqual({
      status: 'retry',
      retryAfterSeconds: 30,
      reason: 'no_open_round',
    });
    expect(seen[1].headers.authorization).toBe('Bearer flk_dev_dev_9.abcdefghijklmnop');
    expect(seen[1].url).toBe('/v1/tasks/task_1/checkin');
  });

  it('answers not_modified when the manifest ETag still matches', async () => {
    const signed = { manifest: sampleManifest(), signature: 'A'.repeat(86) + '==', keyId: 'k1' };
    script = (req, res) => {
      if (req.headers['if-none-match'] === '"g7"') {
        res.writeHead(304, { etag: '"g7"' });
        res.end();
      } else json(res, 200, signed, { etag: '"g7"' });
    };
    const t = transport();
    const first = await t.getManifest('digits');
    expect(first).toEqual({ status: 'modified', signedManifest: signed, etag: '"g7"' });
    await expect(t.getManifest('digits', { etag: '"g7"' })).resolves.toEqual({ status: 'not_modified', etag: '"g7"' });
    expect(seen.map((s) => s.url)).toEqual(['/v1/apps/digits/manifest', '/v1/apps/digits/manifest']);
  });

  it('returns a blob only when its bytes hash to its address', async () => {
    const good = new TextEncoder().encode('the real bytes');
    const hash = await sha256Hex(good);
    let corrupt = false;
    script = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(corrupt ? Buffer.from('tampered bytes') : Buffer.from(good));
    };
    const t = transport();
    expect(new TextDecoder().decode(await t.getBlob(hash))).toBe('the real bytes');
    expect(seen[0].url).toBe(`/v1/blobs/${hash}`);
    corrupt = true;
    await expect(t.getBlob(hash)).rejects.toMatchObject({ name: 'ManifestError', code: 'hash_mismatch' });
    await expect(t.getBlob('not-a-hash')).rejects.toThrow(RangeError);
  });

  it('rejects an answer that does not match the protocol schema', async () => {
    script = (_req, res) => json(res, 200, { status: 'selected', roundId: 'r1' });
    await expect(
      transport().checkIn('task_1', { deviceId: 'd', taskId: 'task_1', numExamples: 1 }),
    ).rejects.toMatchObject({ code: 'bad_response', status: 200 });
  });
});

describe('retry policy', () => {
  it('doubles the backoff ceiling per attempt up to maxDelayMs, with full jitter', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelayMs(a, policy, () => 0.999999))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfterSeconds('7')).toBe(7);
    expect(parseRetryAfterSeconds('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:30 GMT'))).toBe(
      30,
    );
    expect(parseRetryAfterSeconds('soon')).toBeUndefined();
    expect(parseRetryAfterSeconds(null)).toBeUndefined();
  });
});

describe('FlockTransport device routes beside the round', () => {
  it('reads the shadow assignment (null on 404) and the active task ids, with the token', async () => {
    const assignment = { version: 4, sampleRate: 0.25, rolloutId: 'ro_1', manifest: { any: 'thing' } };
    script = (req, res) =>
      req.url === '/v1/apps/digits/shadow'
        ? json(res, 200, assignment)
        : req.url === '/v1/apps/inbox/shadow'
          ? flockError(res, 404, 'not_found')
          : json(res, 200, { tasks: [{ id: 'task_a', state: 'active' }, { id: 'task_b' }] });
    const t = transport();
    await expect(t.getShadowAssignment('digits')).resolves.toEqual(assignment);
    await expect(t.getShadowAssignment('inbox')).resolves.toBeNull();
    await expect(t.getActiveTasks('digits')).resolves.toEqual(['task_a', 'task_b']);
    expect(seen.map((s) => s.headers.authorization)).toEqual(Array(3).fill('Bearer flk_dev_x.secret'));
  });

  it('refuses a shadow assignment that does not match the schema, and asks for tasks once', async () => {
    script = (req, res) =>
      req.url?.endsWith('/shadow') ? json(res, 200, { version: 'four' }) : flockError(res, 503, 'internal');
    await expect(transport().getShadowAssignment('digits')).rejects.toMatchObject({ code: 'bad_response' });
    await expect(transport().getActiveTasks('digits')).rejects.toBeInstanceOf(FlockHttpError);
    expect(seen.filter((s) => s.url.endsWith('/tasks'))).toHaveLength(1);
  });

  it('sends a queued request once with the token added and every status answered', async () => {
    script = (_req, res) => flockError(res, 503, 'internal', { 'retry-after': '3' });
    const answer = await transport().sendQueued({
      method: 'POST',
      url: `${baseUrl}/v1/telemetry`,
      headers: { 'content-type': 'application/json' },
      body: new TextEncoder().encode('{}'),
    });
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('3');
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'internal' } });
    expect(seen).toHaveLength(1);
    expect(seen[0].headers.authorization).toBe('Bearer flk_dev_x.secret');
    expect(seen[0].body.toString()).toBe('{}');
  });
});
