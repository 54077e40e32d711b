/**
 * LISTEN/NOTIFY manifest fan-out on a real PostgreSQL: two instances on one
 * database stand for two coordinator processes. Covers delivery across
 * instances, exactly-once local delivery, app isolation, awkward app names,
 * reconnect with resync after pg_terminate_backend, junk on the channel, and
 * that close() leaves nothing open (a child process must exit by itself).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../../test/pg/test-database.ts';
import type { ManifestChange } from './manifest-events.ts';
import {
  MAX_NOTIFY_REASON_CHARS,
  openPostgresManifestEvents,
  type PostgresManifestEvents,
  type PostgresManifestEventsOptions,
} from './postgres-manifest-events.ts';

const skip = skipWithoutPostgres('postgres manifest events');
let db: TestDatabase | undefined;
const opened: PostgresManifestEvents[] = [];

async function open(name: string, extra: Partial<PostgresManifestEventsOptions> = {}): Promise<PostgresManifestEvents> {
  const events = await openPostgresManifestEvents({
    connectionString: db!.url,
    applicationName: `${name}-${db!.name}`,
    ...extra,
  });
  opened.push(events);
  return events;
}

function collect(events: PostgresManifestEvents, app: string): ManifestChange[] {
  const heard: ManifestChange[] = [];
  events.subscribe(app, (c) => heard.push(c));
  return heard;
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 2_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: db!.url });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

describe.skipIf(skip)('openPostgresManifestEvents', () => {
  beforeAll(async () => {
    db = await createTestDatabase('manifest_events');
  });
  afterAll(async () => {
    for (const e of opened) await e.close();
    await db?.drop();
  });

  it('delivers a publish to the other instance, once to its own subscribers, and only for that app', async () => {
    const a = await open('a1');
    const b = await open('b1');
    const onA = collect(a, 'digits');
    const onB = collect(b, 'digits');
    const otherOnB = collect(b, 'faces');
    a.publish({ app: 'digits', generation: 7, reason: 'pushed to production' });
    // Local delivery is synchronous, like the in-process emitter.
    expect(onA).toEqual([{ app: 'digits', generation: 7, reason: 'pushed to production' }]);
    await waitFor('B to hear A', () => onB.length > 0);
    expect(onB).toEqual([{ app: 'digits', generation: 7, reason: 'pushed to production' }]);
    // A's own NOTIFY comes back to A at the same time as to B: give it time to show up twice if it would.
    await sleep(300);
    expect(onA).toHaveLength(1);
    expect(otherOnB).toEqual([]);

    const facesOnA = collect(a, 'faces');
    b.publish({ app: 'faces', generation: 2, reason: 'rollout.start' });
    b.publish({ app: 'faces', generation: 3, reason: 'rollout.advance' });
    await waitFor('A to hear B, in order', () => facesOnA.length >= 2);
    expect(facesOnA.map((c) => c.generation)).toEqual([2, 3]);
    expect(otherOnB.map((c) => c.generation)).toEqual([2, 3]);
    expect(onB).toHaveLength(1);
  });

  it('round-trips app names with quotes and unicode, and cuts long reasons', async () => {
    const a = await open('a2');
    const b = await open('b2');
    const app = `it's "Ünïcødé" 🐦'); select pg_sleep(5);--`;
    const heard = collect(b, app);
    a.publish({ app, generation: 12, reason: 'x'.repeat(10_000) });
    await waitFor('the awkward app name to arrive', () => heard.length > 0);
    expect(heard[0].app).toBe(app);
    expect(heard[0].generation).toBe(12);
    expect(heard[0].reason).toBe('x'.repeat(MAX_NOTIFY_REASON_CHARS));
  });

  it('ignores junk on the channel with a debug log and keeps working', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
    const b = await open('b3', { log });
    const heard = collect(b, 'digits');
    const junk = [
      'not json',
      '',
      'null',
      '[]',
      '{"app":1}',
      '{"origin":"x","app":"digits","generation":"3","reason":"r"}',
      '{"origin":"x","app":"digits","generation":1.5,"reason":"r"}',
    ];
    for (const payload of junk) await sql('select pg_notify($1, $2)', ['flock_manifest', payload]);
    await sql('select pg_notify($1, $2)', [
      'flock_manifest',
      JSON.stringify({ origin: 'someone-else', app: 'digits', generation: 4, reason: 'sentinel' }),
    ]);
    await waitFor('the sentinel after the junk', () => heard.length > 0);
    expect(heard).toEqual([{ app: 'digits', generation: 4, reason: 'sentinel' }]);
    const ignored = lines
      .map((l) => JSON.parse(l) as { msg: string })
      .filter((l) => l.msg.includes('ignored a notification'));
    expect(ignored).toHaveLength(junk.length);
  });

  it('reconnects after pg_terminate_backend, resyncs subscribed apps, and sends a NOTIFY that failed meanwhile', async () => {
    const a = await open('a4');
    const b = await open('b4', { reconnect: { initialMs: 800, maxMs: 2_000 } });
    const digitsOnB = collect(b, 'digits');
    const facesOnB = collect(b, 'faces');
    const onA = collect(a, 'digits');
    a.publish({ app: 'digits', generation: 1, reason: 'before' });
    await waitFor('the first change', () => digitsOnB.length === 1);

    const killed = await sql<{ ok: boolean }>(
      'select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1',
      [b.listenerName],
    );
    expect(killed).toEqual([{ ok: true }]);
    await sleep(200);
    // B is disconnected now: its NOTIFY cannot go out yet but must not be lost.
    b.publish({ app: 'digits', generation: 2, reason: 'while down' });
    await waitFor(
      'B to resync after reconnecting',
      () => digitsOnB.some((c) => c.reason === 'resync') && facesOnB.some((c) => c.reason === 'resync'),
      5_000,
    );
    expect(digitsOnB.find((c) => c.reason === 'resync')!.generation).toBe(2);
    await waitFor(
      'A to get the change B made while disconnected',
      () => onA.some((c) => c.reason === 'while down'),
      3_000,
    );

    a.publish({ app: 'digits', generation: 3, reason: 'after' });
    await waitFor('B to hear A again', () => digitsOnB.some((c) => c.reason === 'after'));
    const listeners = await sql('select pid from pg_stat_activity where application_name = $1', [b.listenerName]);
    expect(listeners).toHaveLength(1);
  });

  it('rejects with a clear message when PostgreSQL is unreachable, and refuses a bad channel', async () => {
    await expect(
      openPostgresManifestEvents({ connectionString: 'postgres://nobody:secret@127.0.0.1:1/none' }),
    ).rejects.toThrow(/Could not LISTEN .*nobody:\*\*\*@127\.0\.0\.1:1/);
    await expect(openPostgresManifestEvents({ connectionString: db!.url, channel: 'Bad"Channel' })).rejects.toThrow(
      /lowercase identifier/,
    );
  });

  it('close() stops listening and ends the connection', async () => {
    const a = await open('a5');
    const b = await open('b5');
    const heard = collect(b, 'digits');
    await b.close();
    await b.close();
    expect(await sql('select pid from pg_stat_activity where application_name = $1', [b.listenerName])).toEqual([]);
    a.publish({ app: 'digits', generation: 1, reason: 'after close' });
    b.publish({ app: 'digits', generation: 2, reason: 'on a closed instance' });
    await sleep(300);
    expect(heard).toEqual([]);
  });

  it('leaves no open handles: a process that opens, publishes, hears and closes exits by itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flock-events-'));
    const moduleUrl = new URL('./postgres-manifest-events.ts', import.meta.url).href;
    const script = join(dir, 'child.mts');
    await writeFile(
      script,
      `
      import { openPostgresManifestEvents } from ${JSON.stringify(moduleUrl)};
      const url = process.env.CHILD_DATABASE_URL!;
      const a = await openPostgresManifestEvents({ connectionString: url, applicationName: 'child-a' });
      const b = await openPostgresManifestEvents({ connectionString: url, applicationName: 'child-b' });
      const heard = new Promise((resolve) => b.subscribe('digits', resolve));
      a.publish({ app: 'digits', generation: 1, reason: 'child' });
      await heard;
      await a.close();
      await b.close();
      console.log('closed');
    `,
    );
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', script], {
        cwd: fileURLToPath(new URL('../../', import.meta.url)),
        env: { ...process.env, CHILD_DATABASE_URL: db!.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      const code = await new Promise<number | string>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve('still running after 20 s');
        }, 20_000);
        child.on('exit', (c) => {
          clearTimeout(timer);
          resolve(c ?? -1);
        });
      });
      expect({ code, out: out.trim(), err }).toEqual({ code: 0, out: 'closed', err: '' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
