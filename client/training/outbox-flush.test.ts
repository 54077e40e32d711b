import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UPDATE_META_HEADER, type UpdateMeta } from '../../shared/protocol/index.ts';
import { createMemoryStore } from '../storage/index.ts';
import { FlockTransport } from '../federated/transport.ts';
import { enqueueUpdate, flushOutbox, updateOutboxId } from './outbox-flush.ts';

/** A device transport with `token`; the outbox sends each entry to the URL it was queued with. */
const deviceTransport = (token: string, fetch?: typeof globalThis.fetch) =>
  new FlockTransport({ baseUrl: base, token, fetch });

// A loopback server that answers like the coordinator's upload route, by round id.
let server: Server;
let base: string;
const seen: Array<{ url: string; auth: string | undefined; meta: string | undefined; bytes: number }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        url: req.url ?? '',
        auth: req.headers.authorization,
        meta: req.headers[UPDATE_META_HEADER] as string | undefined,
        bytes: Buffer.concat(chunks).length,
      });
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.url?.includes('r_ok'))
        json(200, {
          accepted: true,
          duplicate: false,
          roundId: 'r_ok',
          deviceId: 'dev_1',
          receivedAt: new Date().toISOString(),
        });
      else if (req.url?.includes('r_closed'))
        json(409, { error: { code: 'round_closed', message: 'round r_closed is closed' } });
      else json(503, { error: { code: 'internal', message: 'busy' } }, { 'retry-after': '7' });
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((done) => server.close(() => done())));

const meta = (roundId: string): UpdateMeta => ({
  roundId,
  deviceId: 'dev_1',
  numExamples: 10,
  preClipNorm: 0.5,
  epochs: 1,
  encoding: 'fp32',
});

describe('update outbox', () => {
  it('uploads with the token, drops refused updates, reschedules on 503 honouring Retry-After', async () => {
    let clock = 1_000_000;
    const store = createMemoryStore({ now: () => clock });
    for (const round of ['r_ok', 'r_closed', 'r_busy'])
      await enqueueUpdate(store, `${base}/`, new Uint8Array(32).fill(1), meta(round));
    // Re-queueing the same round and device replaces the entry: one upload per round.
    await enqueueUpdate(store, base, new Uint8Array(32).fill(2), meta('r_ok'));
    expect(await store.countOutbox()).toEqual({ update: 3, telemetry: 0 });

    const outcomes = await flushOutbox({ store, transport: deviceTransport('flk_dev_x.secret'), now: () => clock });
    const byId = new Map(outcomes.map((o) => [o.id, o]));
    expect(byId.get(updateOutboxId('r_ok', 'dev_1'))).toMatchObject({
      status: 'uploaded',
      receipt: { accepted: true },
    });
    expect(byId.get(updateOutboxId('r_closed', 'dev_1'))).toMatchObject({ status: 'dropped', code: 'round_closed' });
    expect(byId.get(updateOutboxId('r_busy', 'dev_1'))).toMatchObject({
      status: 'rescheduled',
      nextAttemptAt: clock + 7000,
    });
    expect(
      seen.every(
        (s) =>
          s.auth === 'Bearer flk_dev_x.secret' && s.bytes === 32 && JSON.parse(s.meta ?? '{}').deviceId === 'dev_1',
      ),
    ).toBe(true);
    expect(seen.map((s) => s.url).sort()).toEqual([
      '/v1/rounds/r_busy/updates',
      '/v1/rounds/r_closed/updates',
      '/v1/rounds/r_ok/updates',
    ]);
    expect(await store.countOutbox()).toEqual({ update: 1, telemetry: 0 });

    // Not due yet: nothing is sent.
    expect(await flushOutbox({ store, transport: deviceTransport('t'), now: () => clock })).toEqual([]);
    clock += 7000;
    expect(
      (await flushOutbox({ store, transport: deviceTransport('t'), now: () => clock })).map((o) => o.status),
    ).toEqual(['rescheduled']);
  });

  it('keeps the update when the network is down', async () => {
    const store = createMemoryStore();
    await enqueueUpdate(store, 'http://127.0.0.1:9', new Uint8Array(4), meta('r_ok'));
    const [outcome] = await flushOutbox({
      store,
      transport: deviceTransport('t', () => Promise.reject(new TypeError('Failed to fetch'))),
    });
    expect(outcome).toMatchObject({ status: 'rescheduled', error: 'network: Failed to fetch' });
    expect((await store.countOutbox()).update).toBe(1);
  });

  it('on coming back online, ignoreBackoff sends an update still waiting out the backoff it earned offline', async () => {
    const clock = 5_000_000;
    const store = createMemoryStore({ now: () => clock });
    await enqueueUpdate(store, base, new Uint8Array(8).fill(3), meta('r_ok'));
    const [failed] = await flushOutbox({
      store,
      transport: deviceTransport('t', () => Promise.reject(new TypeError('Failed to fetch'))),
      now: () => clock,
      random: () => 0.5,
    });
    expect(failed.status).toBe('rescheduled');
    expect((failed as { nextAttemptAt: number }).nextAttemptAt).toBeGreaterThan(clock);
    // Still inside the backoff: a plain flush sends nothing.
    expect(await flushOutbox({ store, transport: deviceTransport('t'), now: () => clock })).toEqual([]);
    const [sent] = await flushOutbox({ store, transport: deviceTransport('t'), now: () => clock, ignoreBackoff: true });
    expect(sent).toMatchObject({ status: 'uploaded', receipt: { roundId: 'r_ok' } });
    expect((await store.countOutbox()).update).toBe(0);
  });
});
