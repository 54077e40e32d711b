/**
 * First-start seeding of the Inbox demo: when app 'inbox' has no version,
 * make its model the way a user would, with the CLI (`flock model init
 * --template text-hash --output binary --labels ham,spam`), train it briefly
 * on the SpamAssassin mails no inbox shows (the corpus's training split, run
 * through the model's own flock-model.json preprocessing), and push it as
 * production with a holdout of held-out mails, plus a federated task so the
 * devices learn from what people mark. The corpus is a dev dependency: where
 * it is not installed, nothing is seeded and the reason says so.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import type { Coordinator } from '../../coordinator/coordinator.ts';
import { readModelDirectory, writeHoldout, writeModelDirectory } from '../../coordinator/registry/index.ts';
import { pushModel } from '../../coordinator/registry/publish.ts';
import { RdpAccountant } from '../../shared/dp/index.ts';
import { compileForTraining, modelFromParts } from '../../shared/model/index.ts';
import { compilePreprocess } from '../../shared/preprocess/index.ts';
import { MODEL_SPEC_FILE, ModelSpecSchema, TaskPlanSchema, type TaskPlanInput } from '../../shared/protocol/index.ts';
import {
  mailText,
  SpamAssassinFormatError,
  spamAssassinSplit,
  type SpamMail,
} from '../../simulate/datasets/spamassassin.ts';
import type { SeedResult } from './seed.ts';

export const INBOX_APP = 'inbox';

/** The CLI call that makes the Inbox model (the README shows the same one). */
export const INBOX_MODEL_INIT_ARGS = [
  'model',
  'init',
  '--template',
  'text-hash',
  '--output',
  'binary',
  '--labels',
  'ham,spam',
  '--text-dimensions',
  '4096',
] as const;

export interface InboxTrainingOptions {
  /** Training mails, spread over the corpus's training split (default: all of it, ~4,800). */
  examples?: number;
  /** Epochs over them (default 3). */
  epochs?: number;
  /** SGD learning rate (default 1, as `flock simulate --dataset spamassassin` uses). */
  learningRate?: number;
  /** Mini-batch size (default 10). */
  batchSize?: number;
  /** Held-out mails in the holdout the push checks variants on (default 600). */
  holdoutExamples?: number;
}

export interface InboxSeedOptions {
  progress?: (line: string) => void;
  training?: InboxTrainingOptions;
  /** Changes to the demo task's plan (tests close a round with one device). */
  task?: Partial<TaskPlanInput>;
}

function evenly<T>(list: T[], n: number | undefined): T[] {
  if (n === undefined || n >= list.length) return list;
  return Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]);
}

/** This package's root (the folder of its package.json), from demo/seed/ or from its build in dist/lib/demo/seed/. */
function packageRoot(): string {
  for (let dir = import.meta.dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'flock-ml')
      return dir;
  }
  throw new Error(`no flock-ml package.json above ${import.meta.dirname}`);
}

/** Runs `flock model init` (bin/flock.js of this package) into `dir`. */
async function initModelWithCli(dir: string): Promise<void> {
  const bin = join(packageRoot(), 'bin', 'flock.js');
  await promisify(execFile)(process.execPath, [bin, ...INBOX_MODEL_INIT_ARGS, '--out', dir, '--force'], {
    timeout: 120_000,
  });
}

function featuresOf(mails: readonly SpamMail[], preprocess: unknown): { x: Float32Array; width: number } {
  const p = compilePreprocess(preprocess);
  const width = p.shape[0];
  const x = new Float32Array(mails.length * width);
  mails.forEach((m, i) => x.set(p.apply(mailText(m)), i * width));
  return { x, width };
}

/**
 * @example
 * const result = await seedInboxModel(coordinator, { progress: (line) => console.log(line) });
 */
export async function seedInboxModel(coordinator: Coordinator, options: InboxSeedOptions = {}): Promise<SeedResult> {
  const { store, signing, config } = coordinator.deps;
  const progress = options.progress ?? (() => {});
  const latest = await store.latestModelVersion(INBOX_APP);
  if (latest) return { seeded: false, reason: `app "${INBOX_APP}" already has version ${latest.version}` };
  let split: { train: SpamMail[]; test: SpamMail[] };
  try {
    split = spamAssassinSplit();
  } catch (error) {
    if (!(error instanceof SpamAssassinFormatError)) throw error;
    progress(`the Inbox demo has no model: ${error.message}`);
    return { seeded: false, reason: error.message };
  }
  const t = {
    examples: undefined,
    epochs: 3,
    learningRate: 1,
    batchSize: 10,
    holdoutExamples: 600,
    ...options.training,
  };
  const started = Date.now();
  progress(`first start: making the "${INBOX_APP}" model with flock model init and training it on SpamAssassin...`);
  const dir = mkdtempSync(join(tmpdir(), 'flock-inbox-seed-'));
  try {
    await initModelWithCli(dir);
    const spec = ModelSpecSchema.parse(JSON.parse(readFileSync(join(dir, MODEL_SPEC_FILE), 'utf8')));
    if (!spec.preprocess) throw new Error(`${MODEL_SPEC_FILE} of the text-hash template has no preprocessing`);
    // MD5 order mixes ham and spam (the corpus lists them folder by folder), the same in every run.
    const train = evenly(split.train, t.examples).sort((a, b) => a.md5.localeCompare(b.md5));
    const { x, width } = featuresOf(train, spec.preprocess);
    const model = await modelFromParts(await readModelDirectory(dir));
    try {
      compileForTraining(model, t.learningRate, spec.output.kind);
      const xs = tf.tensor2d(x, [train.length, width]);
      const ys = tf.tensor2d(
        Float32Array.from(train, (m) => m.label),
        [train.length, 1],
      );
      try {
        await model.fit(xs, ys, { epochs: t.epochs, batchSize: t.batchSize, shuffle: false, verbose: 0 });
      } finally {
        tf.dispose([xs, ys]);
      }
      await writeModelDirectory(model, dir);
    } finally {
      model.dispose();
    }
    const heldOut = evenly(split.test, t.holdoutExamples);
    const holdout = featuresOf(heldOut, spec.preprocess);
    const files = new Map(
      ['model.json', 'weights.bin', MODEL_SPEC_FILE].map((name) => [
        name,
        new Uint8Array(readFileSync(join(dir, name))),
      ]),
    );
    const { version, accuracy } = await pushModel(store, signing, {
      app: INBOX_APP,
      files,
      holdout: writeHoldout({ x: holdout.x, y: Uint8Array.from(heldOut, (m) => m.label), inputShape: [width] }),
      stage: 'production',
      actor: 'system:seed',
      maxModelBytes: config.limits.modelBytes,
      maxAccuracyDrop: config.maxAccuracyDrop,
    });
    const plan = TaskPlanSchema.parse({
      population: 100,
      clientsPerRound: 3,
      minReports: 2,
      overSelection: 1.3,
      roundDeadlineSeconds: 600,
      localEpochs: 2,
      batchSize: 4,
      learningRate: 0.5,
      minExamples: 3,
      clipNorm: 5,
      updateEncoding: { encoding: 'int8' },
      ...options.task,
    });
    const task = await store.createTask({
      app: INBOX_APP,
      name: 'inbox: learn from marked mail',
      modelVersion: version.version,
      plan,
      budget: { epsilon: Number.MAX_VALUE, delta: 1e-5 },
      accountant: new RdpAccountant().toJSON(),
      clipNorm: plan.clipNorm,
    });
    await store.appendAudit({
      actor: 'system:seed',
      action: 'task.create',
      target: task.id,
      details: { app: INBOX_APP, modelVersion: version.version },
    });
    const seconds = (Date.now() - started) / 1000;
    const holdoutAccuracy = accuracy?.fp32Accuracy ?? null;
    progress(
      `inbox model published: ${INBOX_APP} v${version.version} (production, ${train.length} mails, ${t.epochs} epochs), held-out accuracy ${holdoutAccuracy === null ? 'n/a' : holdoutAccuracy.toFixed(3)}, ${seconds.toFixed(1)} s; task ${task.id}`,
    );
    return { seeded: true, version: version.version, holdoutAccuracy, seconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
