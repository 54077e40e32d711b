/**
 * The Inbox seed end to end on the real corpus: the model comes from the real
 * `flock model init` (bin/flock.js in a child process), trains on the
 * training split through its own flock-model.json preprocessing, and is
 * pushed to a real coordinator on SQLite with a held-out holdout and a task.
 * The mails the Inbox page shows are held out, so this also measures the
 * model on exactly those.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { compilePreprocess } from '../../shared/preprocess/index.ts';
import { modelFromParts } from '../../shared/model/index.ts';
import { loadModelSpec, tfjsTopologyOf } from '../../coordinator/registry/model-spec-file.ts';
import { weightsFromVariant } from '../../coordinator/registry/variants.ts';
import { isHeldOut, loadSpamAssassin } from '../../simulate/datasets/spamassassin.ts';
import { selectInboxMails } from '../build/inbox-mails.ts';
import { INBOX_APP, seedInboxModel } from './inbox-seed.ts';
import type { SeedResult } from './seed.ts';

let dataDir: string;
let coordinator: Coordinator;
let first: SeedResult;
const lines: string[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'flock-inbox-seed-test-'));
  coordinator = await createCoordinator({ dataDir, log: pino({ level: 'silent' }), sweep: false });
  first = await seedInboxModel(coordinator, { training: { examples: 1500 }, progress: (l) => lines.push(l) });
}, 180_000);

afterAll(async () => {
  await coordinator?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('seedInboxModel', () => {
  it('publishes a binary ham/spam text-hash version with the preprocessing of flock model init', async () => {
    expect(first).toMatchObject({ seeded: true, version: 1 });
    if (!first.seeded) return;
    expect(first.holdoutAccuracy).toBeGreaterThan(0.85);
    const version = await coordinator.deps.store.getModelVersion(INBOX_APP, 1);
    expect(version?.stage).toBe('production');
    const tasks = await coordinator.deps.store.listTasks({ app: INBOX_APP });
    expect(tasks).toHaveLength(1);
    expect(tasks[0].modelVersion).toBe(1);
    expect(lines.at(-1)).toMatch(/inbox model published: inbox v1/);
  });

  it('reads the mails the page shows as spam or not, better than chance by far', async () => {
    const mails = selectInboxMails();
    expect(mails).toHaveLength(36);
    expect(mails.filter((m) => m.label === 1)).toHaveLength(18);
    const md5 = new Map(loadSpamAssassin().map((m) => [m.id, m.md5]));
    expect(mails.every((m) => isHeldOut(md5.get(m.id)!))).toBe(true);

    const { store } = coordinator.deps;
    const version = (await store.getModelVersion(INBOX_APP, 1))!;
    const spec = (await loadModelSpec(store, version))!;
    expect(spec.output).toMatchObject({ kind: 'binary', threshold: 0.5, labels: ['ham', 'spam'] });
    const fp32 = version.variants.find((v) => v.encoding === 'fp32')!;
    const bytes = (await store.blobs.get(fp32.sha256))!;
    const model = await modelFromParts({
      topology: tfjsTopologyOf(version),
      weightSpecs: version.weightSpecs,
      weights: weightsFromVariant(bytes, version.weightSpecs),
    });
    const p = compilePreprocess(spec.preprocess);
    const x = tf.tensor2d(
      mails.flatMap((m) => Array.from(p.apply(m.text))),
      [mails.length, p.shape[0]],
    );
    const probabilities = (await (model.predict(x) as tf.Tensor).data()) as Float32Array;
    x.dispose();
    model.dispose();
    const correct = mails.filter((m, i) => (probabilities[i] >= 0.5 ? 1 : 0) === m.label).length;
    console.info(`inbox seed: ${correct}/${mails.length} of the inbox's mails read right`);
    expect(correct / mails.length).toBeGreaterThanOrEqual(0.75);
  });

  it('leaves an app that has a version alone', async () => {
    expect(await seedInboxModel(coordinator)).toEqual({ seeded: false, reason: 'app "inbox" already has version 1' });
  });
});
