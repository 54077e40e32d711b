import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashSecret } from './identity-ops.ts';
import { openSqliteStore } from './sqlite-store.ts';
import { TaskPlanSchema } from '../../shared/protocol/index.ts';

const script = fileURLToPath(new URL('./child-writer.fixture.ts', import.meta.url));
let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-durability-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

interface Child {
  lines: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(): void;
  onLine(fn: (l: string) => void): void;
}

function runChild(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const listeners: ((l: string) => void)[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      for (const fn of listeners) fn(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
  return { lines, exit, kill: () => child.kill('SIGKILL'), onLine: (fn) => listeners.push(fn) };
}

describe('durability across processes', () => {
  it('keeps every acknowledged update after the writer is SIGKILLed mid-stream', async () => {
    const total = 400;
    const store = await openSqliteStore({ dataDir });
    await store.transaction(async (tx) => {
      for (let i = 0; i < total; i++)
        await tx.createDevice({ deviceId: `d${i}`, app: 'digits', tokenHash: hashSecret(`t${i}`) });
    });
    await store.createModelVersion({ app: 'digits', source: 'push', topology: {}, weightSpecs: [], variants: [] });
    const task = await store.createTask({
      app: 'digits',
      name: 't',
      modelVersion: 1,
      plan: TaskPlanSchema.parse({ population: 10 }),
      budget: { epsilon: 1, delta: 1e-5 },
    });
    const round = await store.createRound({
      taskId: task.id,
      globalVersion: 1,
      goal: total,
      selectionLimit: total,
      deadlineAt: '2099-01-01T00:00:00Z',
    });
    await store.transaction(async (tx) => {
      for (let i = 0; i < total; i++) await tx.claimSlot(round.id, `d${i}`);
    });
    await store.close();

    const child = runChild(['updates', dataDir, round.id, String(total)]);
    const killAfter = 25;
    child.onLine(() => {
      if (child.lines.length === killAfter) child.kill();
    });
    const { signal, stderr } = await child.exit;
    expect(signal, `child ended on its own; stderr: ${stderr}`).toBe('SIGKILL');
    const acks = child.lines.filter((l) => l.startsWith('ACK ')).map((l) => l.split(' '));
    expect(acks.length).toBeGreaterThanOrEqual(killAfter);
    expect(acks.length).toBeLessThan(total);

    const reopened = await openSqliteStore({ dataDir });
    try {
      const stored = new Map((await reopened.listUpdates(round.id)).map((u) => [u.deviceId, u]));
      for (const [, deviceId, hash] of acks) {
        expect(stored.get(deviceId)?.blobHash, `acked update of ${deviceId}`).toBe(hash);
        const bytes = await reopened.blobs.get(hash);
        expect(bytes, `blob of ${deviceId}`).not.toBeNull();
        expect(createHash('sha256').update(bytes!).digest('hex')).toBe(hash);
      }
      // The count agrees with the rows: no update half-recorded.
      expect((await reopened.getRound(round.id))?.reportedCount).toBe(stored.size);
      // The round carries on after the restart.
      const next = await reopened.recordUpdate({
        roundId: round.id,
        deviceId: `d${total - 1}`,
        blobHash: 'f'.repeat(64),
        byteLength: 1,
        numExamples: 1,
      });
      expect(next.outcome).toBe('accepted');
    } finally {
      await reopened.close();
    }
  });

  it('allocates distinct version numbers when two processes write at once', async () => {
    const store = await openSqliteStore({ dataDir });
    await store.createModelVersion({ app: 'digits', source: 'push', topology: {}, weightSpecs: [], variants: [] });
    await store.close();
    const per = 15;
    const children = [
      runChild(['versions', dataDir, 'digits', String(per)]),
      runChild(['versions', dataDir, 'digits', String(per)]),
    ];
    const exits = await Promise.all(children.map((c) => c.exit));
    for (const e of exits) expect(e.code, e.stderr).toBe(0);
    const versions = children.flatMap((c) =>
      c.lines.filter((l) => l.startsWith('VERSION ')).map((l) => Number(l.split(' ')[1])),
    );
    expect(versions.sort((a, b) => a - b)).toEqual(Array.from({ length: 2 * per }, (_, i) => i + 2));
    const reopened = await openSqliteStore({ dataDir });
    expect((await reopened.latestModelVersion('digits'))?.version).toBe(2 * per + 1);
    await reopened.close();
  });
});
