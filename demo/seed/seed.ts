/**
 * First-start seeding for the demo: when app 'digits' has no model version,
 * train the small MNIST seed model and publish it as production, so the
 * Digits page works out of the box. Runs after the server listens (training
 * takes tens of seconds; the page waits and retries meanwhile).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mnistInputShape } from '../../shared/model/index.ts';
import type { Coordinator } from '../../coordinator/coordinator.ts';
import { loadMnist } from '../../simulate/datasets/mnist.ts';
import { pushModel } from '../../coordinator/registry/publish.ts';
import { TaskPlanSchema } from '../../shared/protocol/index.ts';
import { RdpAccountant } from '../../shared/dp/index.ts';
import { writeHoldout, writeModelDirectory } from '../../coordinator/registry/index.ts';
import { trainSeedMnistModel, type SeedModelOptions } from './seed-model.ts';

export const DEMO_APP = 'digits';
const HOLDOUT_EXAMPLES = 1000;

export type SeedResult =
  | { seeded: false; reason: string }
  | { seeded: true; version: number; holdoutAccuracy: number | null; seconds: number };

/**
 * @example
 * const result = await seedDemoModel(coordinator, { progress: (line) => console.log(line) });
 */
export async function seedDemoModel(
  coordinator: Coordinator,
  options: { progress?: (line: string) => void; training?: SeedModelOptions } = {},
): Promise<SeedResult> {
  const { store, signing, config } = coordinator.deps;
  const progress = options.progress ?? (() => {});
  const latest = await store.latestModelVersion(DEMO_APP);
  if (latest) return { seeded: false, reason: `app "${DEMO_APP}" already has version ${latest.version}` };

  const started = Date.now();
  progress(`first start: training the "${DEMO_APP}" seed model on MNIST (usually 20-40 s)...`);
  const ticker = setInterval(
    () => progress(`  still training the seed model (${Math.round((Date.now() - started) / 1000)} s)`),
    10_000,
  );
  const dir = mkdtempSync(join(tmpdir(), 'flock-seed-'));
  try {
    const model = await trainSeedMnistModel(options.training);
    await writeModelDirectory(model, dir);
    model.dispose();
    const files = new Map(
      ['model.json', 'weights.bin'].map((name) => [name, new Uint8Array(readFileSync(join(dir, name)))]),
    );
    const test = loadMnist({ split: 'test', limit: HOLDOUT_EXAMPLES });
    const { version, accuracy } = await pushModel(store, signing, {
      app: DEMO_APP,
      files,
      holdout: writeHoldout({ x: test.images, y: test.labels, inputShape: mnistInputShape('mlp-small') }),
      stage: 'production',
      actor: 'system:seed',
      maxModelBytes: config.limits.modelBytes,
      maxAccuracyDrop: config.maxAccuracyDrop,
    });
    // A federated task so the demo's devices train on the corrections people record.
    const plan = TaskPlanSchema.parse({
      population: 100,
      clientsPerRound: 3,
      minReports: 2,
      overSelection: 1.3,
      roundDeadlineSeconds: 600,
      localEpochs: 2,
      batchSize: 8,
      learningRate: 0.05,
      minExamples: 5,
      clipNorm: 5,
      updateEncoding: { encoding: 'int8' },
    });
    const task = await store.createTask({
      app: DEMO_APP,
      name: 'digits: learn from corrections',
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
      details: { app: DEMO_APP, modelVersion: version.version },
    });
    progress(`demo task created: ${task.id} (3 devices per round; devices train on recorded corrections)`);
    const seconds = (Date.now() - started) / 1000;
    const holdoutAccuracy = accuracy?.fp32Accuracy ?? null;
    progress(
      `seed model published: ${DEMO_APP} v${version.version} (production), holdout accuracy ${holdoutAccuracy === null ? 'n/a' : holdoutAccuracy.toFixed(3)}, ${seconds.toFixed(1)} s`,
    );
    return { seeded: true, version: version.version, holdoutAccuracy, seconds };
  } finally {
    clearInterval(ticker);
    rmSync(dir, { recursive: true, force: true });
  }
}
