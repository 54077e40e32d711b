/**
 * What `flock model push|list|show|stage` do (their flags are in
 * model-commands.ts, which loads this file only when one runs).
 *
 * `push` checks the folder locally first (model.json parses, every weight
 * file it names is there) so a typo in a path is a usage error in
 * milliseconds, not an upload and a 422; then the admin key, with one small
 * read, so a wrong key costs no upload.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative } from 'node:path';
import { z } from 'zod';
import {
  AppNameSchema,
  MODEL_SPEC_FILE,
  MODEL_STAGES,
  ModelVersionListSchema,
  ModelVersionViewSchema,
  WeightEncodingSchema,
  type ModelVersionView,
} from '../shared/protocol/index.ts';
import type { AdminApi } from '../coordinator/admin-client.ts';
import { adminRequest, cell, formatBytes, renderTable, resolveConnection, type ConnectionFlags } from './admin-http.ts';
import type { CliIo } from './index.ts';
import { parseIntegerFlag, UsageError } from './usage-error.ts';

/** What `POST /v1/admin/models/:app` answers: the version plus the holdout report. */
export const PushAnswerSchema = ModelVersionViewSchema.extend({
  /** The holdout gate (coordinator/registry/variant-accuracy.ts): accuracy, or mean absolute error for regression. */
  accuracy: z
    .union([
      z.object({
        metric: z.enum(['accuracy', 'exactMatch']).default('accuracy'),
        fp32Accuracy: z.number(),
        count: z.int(),
        perVariant: z.array(
          z.object({ encoding: WeightEncodingSchema, accuracy: z.number(), drop: z.number(), accepted: z.boolean() }),
        ),
      }),
      z.object({
        metric: z.literal('meanAbsoluteError'),
        fp32MeanAbsoluteError: z.number(),
        errorScale: z.number(),
        count: z.int(),
        perVariant: z.array(
          z.object({
            encoding: WeightEncodingSchema,
            meanAbsoluteError: z.number(),
            drop: z.number(),
            accepted: z.boolean(),
          }),
        ),
      }),
    ])
    .nullable(),
  refusedVariants: z.array(WeightEncodingSchema),
});
export type PushAnswer = z.output<typeof PushAnswerSchema>;

/** One file of the upload: its multipart field name and bytes. */
export interface UploadPart {
  field: string;
  path: string;
  bytes: Uint8Array<ArrayBuffer>;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Refuses a file that resolves (through `..` or a symlink) outside the model
 * folder: a model.json naming `../../.ssh/id_rsa` must not upload it.
 */
async function insideFolder(root: string, path: string, key: string): Promise<void> {
  const real = await realpath(path);
  const rel = relative(root, real);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new UsageError(
      `"${key}" resolves to ${real}, outside the model folder ${root}; copy the file into the folder instead of linking to it`,
    );
  }
}

/**
 * Reads `dir/model.json`, the weight files it names and `flock-model.json`
 * when there is one (the version's preprocessing and output spec), or throws a
 * UsageError saying what is missing. Field names are the manifest's paths as
 * the coordinator keys them (a leading `./` dropped).
 *
 * @example
 * const parts = await readModelUpload('./digits-model'); // [{ field: 'model.json', ... }, { field: 'weights.bin', ... }]
 */
export async function readModelUpload(dir: string): Promise<UploadPart[]> {
  let dirStat;
  try {
    dirStat = await stat(dir);
  } catch {
    throw new UsageError(
      `model folder "${dir}" does not exist; point at the folder written by tf.LayersModel.save() (model.json + weight files)`,
    );
  }
  if (!dirStat.isDirectory())
    throw new UsageError(`"${dir}" is not a folder; pass the folder that holds model.json, not a file`);
  const jsonPath = join(dir, 'model.json');
  if (!(await isFile(jsonPath)))
    throw new UsageError(`no model.json in "${dir}"; point at the folder written by tf.LayersModel.save()`);
  const jsonBytes = new Uint8Array(await readFile(jsonPath));
  // The registry's model-file checks import tfjs: only `model push` pays for that.
  const [{ parseModelJson, shardKey }, { ModelPackageError }] = await Promise.all([
    import('../coordinator/registry/model-files.ts'),
    import('../coordinator/registry/model-package-error.ts'),
  ]);
  let keys: string[];
  try {
    const json = parseModelJson(jsonBytes);
    keys = [...new Set(json.weightsManifest.flatMap((group) => group.paths.map(shardKey)))];
  } catch (error) {
    if (error instanceof ModelPackageError) throw new UsageError(`${jsonPath}: ${error.message}`);
    throw error;
  }
  const parts: UploadPart[] = [{ field: 'model.json', path: jsonPath, bytes: jsonBytes }];
  const missing: string[] = [];
  const root = await realpath(dir);
  await insideFolder(root, jsonPath, 'model.json');
  for (const key of keys) {
    const path = join(dir, key);
    if (!(await isFile(path))) {
      missing.push(key);
      continue;
    }
    await insideFolder(root, path, key);
    parts.push({ field: key, path, bytes: new Uint8Array(await readFile(path)) });
  }
  if (missing.length > 0) {
    throw new UsageError(
      `model.json in "${dir}" names weight file${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} that ${missing.length > 1 ? 'are' : 'is'} not there; copy every shard next to model.json`,
    );
  }
  const specPath = join(dir, MODEL_SPEC_FILE);
  if (await isFile(specPath)) {
    await insideFolder(root, specPath, MODEL_SPEC_FILE);
    const bytes = new Uint8Array(await readFile(specPath));
    // Checked here too, so a typo in the spec is a usage error before any upload; the coordinator checks it again.
    const { parseModelSpecFile } = await import('../coordinator/registry/model-spec-file.ts');
    try {
      parseModelSpecFile(new Map([[MODEL_SPEC_FILE, bytes]]));
    } catch (error) {
      if (error instanceof ModelPackageError) throw new UsageError(`${specPath}: ${error.message}`);
      throw error;
    }
    parts.push({ field: MODEL_SPEC_FILE, path: specPath, bytes });
  }
  return parts;
}

function appOf(raw: string): string {
  const parsed = AppNameSchema.safeParse(raw);
  if (!parsed.success)
    throw new UsageError(`--app: ${parsed.error.issues[0]?.message ?? 'invalid app name'}, got "${raw}"`);
  return parsed.data;
}

function stageOf(flag: string, raw: string): (typeof MODEL_STAGES)[number] {
  const stage = MODEL_STAGES.find((s) => s === raw);
  if (!stage) throw new UsageError(`${flag} must be one of ${MODEL_STAGES.join(', ')}, got "${raw}"`);
  return stage;
}

const listVersionsOf = (api: AdminApi, app: string) =>
  api.v1.admin.models[':app'].versions.$get({ param: { app: encodeURIComponent(app) } });
const versionParam = (app: string, version: number) => ({ app: encodeURIComponent(app), version: String(version) });

function variantsTable(v: ModelVersionView): string {
  return renderTable(
    ['encoding', 'size', 'sha256', 'holdout accuracy'],
    v.variants.map((variant) => [
      variant.encoding,
      formatBytes(variant.totalBytes),
      `${variant.sha256.slice(0, 12)}…`,
      cell(variant.holdoutAccuracy),
    ]),
  );
}

/** Human text for one version: lineage, metrics, variants. */
export function describeVersion(v: ModelVersionView): string {
  const lines = [
    `${v.app} v${v.version}  stage ${v.stage}  source ${v.source}${v.parentVersion === null ? '' : `  parent v${v.parentVersion}`}`,
    `created ${v.createdAt}`,
  ];
  if (v.source === 'round') {
    lines.push(
      `round ${cell(v.roundId)}: ${cell(v.clients)} clients, clip norm ${cell(v.clipNorm)}, noise multiplier ${cell(v.noiseMultiplier)}, epsilon ${cell(v.epsilon)}`,
    );
  }
  const metrics = Object.entries(v.metrics);
  if (metrics.length > 0) lines.push(`metrics: ${metrics.map(([k, value]) => `${k}=${cell(value)}`).join(', ')}`);
  return `${lines.join('\n')}\n\n${variantsTable(v)}`;
}

function describePush(answer: PushAnswer): string {
  let text = `pushed ${answer.app} v${answer.version} (stage ${answer.stage})\n\n${variantsTable(answer)}`;
  const report = answer.accuracy;
  if (report && report.metric === 'meanAbsoluteError') {
    text += `\nholdout mean absolute error on ${report.count} examples (fp32 ${cell(report.fp32MeanAbsoluteError)}; drop in units of ${cell(report.errorScale)}, the error of the median guess):\n`;
    text += renderTable(
      ['encoding', 'mean abs error', 'drop', 'served'],
      report.perVariant.map((v) => [
        v.encoding,
        cell(v.meanAbsoluteError),
        cell(v.drop),
        v.accepted ? 'yes' : 'no (refused)',
      ]),
    );
  } else if (report) {
    const what = report.metric === 'exactMatch' ? 'exact-match accuracy' : 'accuracy';
    text += `\nholdout ${what} on ${report.count} examples (fp32 ${cell(report.fp32Accuracy)}):\n`;
    text += renderTable(
      ['encoding', 'accuracy', 'drop', 'served'],
      report.perVariant.map((v) => [v.encoding, cell(v.accuracy), cell(v.drop), v.accepted ? 'yes' : 'no (refused)']),
    );
  }
  if (answer.refusedVariants.length > 0) {
    text += `\nnot served (did worse on the holdout than the gate allows): ${answer.refusedVariants.join(', ')}\n`;
  }
  return text;
}

export interface PushFlags extends ConnectionFlags {
  app: string;
  holdout?: string;
  stage?: string;
  json?: boolean;
}
export interface AppFlags extends ConnectionFlags {
  app: string;
  json?: boolean;
}
export interface ShowFlags extends AppFlags {
  version: string;
}
export interface StageFlags extends ShowFlags {
  to: string;
  reason?: string;
}

/** `flock model push DIR`. */
export async function pushModel(dir: string, flags: PushFlags, io: CliIo): Promise<void> {
  const app = appOf(flags.app);
  const stage = flags.stage === undefined ? undefined : stageOf('--stage', flags.stage);
  const conn = resolveConnection(flags);
  const parts = await readModelUpload(dir);
  if (flags.holdout !== undefined && !(await isFile(flags.holdout)))
    throw new UsageError(`--holdout file "${flags.holdout}" does not exist`);
  // Check the key with one small read first: a wrong key must not cost the whole upload.
  await adminRequest(conn, { call: (api) => listVersionsOf(api, app), schema: ModelVersionListSchema });
  if (flags.holdout !== undefined)
    parts.push({ field: 'holdout', path: flags.holdout, bytes: new Uint8Array(await readFile(flags.holdout)) });
  const form = new FormData();
  for (const part of parts) form.append(part.field, new Blob([part.bytes]), basename(part.path));
  if (stage) form.append('stage', stage);
  const total = parts.reduce((n, p) => n + p.bytes.byteLength, 0);
  // fetch reports no upload progress; one line keeps a long upload from looking hung.
  io.err(
    `uploading ${parts.length} files (${formatBytes(total)}) to ${conn.baseUrl}${flags.holdout ? ', then checking variants on the holdout' : ''}...\n`,
  );
  const answer = await adminRequest(conn, {
    // Multipart with one field per file (the route reads it itself), so the form goes as the body.
    call: (api) =>
      api.v1.admin.models[':app'].$post({ param: { app: encodeURIComponent(app) } }, { init: { body: form } }),
    schema: PushAnswerSchema,
    timeoutMs: 10 * 60_000,
  });
  io.out(flags.json ? `${JSON.stringify(answer)}\n` : describePush(answer));
}

/** `flock model list --app APP`. */
export async function listVersions(flags: AppFlags, io: CliIo): Promise<void> {
  const app = appOf(flags.app);
  const { versions } = await adminRequest(resolveConnection(flags), {
    call: (api) => listVersionsOf(api, app),
    schema: ModelVersionListSchema,
  });
  if (flags.json) return io.out(`${JSON.stringify(versions)}\n`);
  if (versions.length === 0)
    return io.out(`${app} has no versions yet; push one with "flock model push DIR --app ${app}"\n`);
  io.out(
    renderTable(
      ['version', 'stage', 'source', 'parent', 'clients', 'epsilon', 'created'],
      versions.map((v) => [
        String(v.version),
        v.stage,
        v.source,
        cell(v.parentVersion),
        cell(v.clients),
        cell(v.epsilon),
        v.createdAt,
      ]),
    ),
  );
}

/** `flock model show --app APP --version N`. */
export async function showVersion(flags: ShowFlags, io: CliIo): Promise<void> {
  const app = appOf(flags.app);
  const version = parseIntegerFlag('--version', flags.version);
  const v = await adminRequest(resolveConnection(flags), {
    call: (api) => api.v1.admin.models[':app'].versions[':version'].$get({ param: versionParam(app, version) }),
    schema: ModelVersionViewSchema,
  });
  io.out(flags.json ? `${JSON.stringify(v)}\n` : describeVersion(v));
}

/** `flock model stage --app APP --version N --to STAGE`. */
export async function stageVersion(flags: StageFlags, io: CliIo): Promise<void> {
  const app = appOf(flags.app);
  const version = parseIntegerFlag('--version', flags.version);
  const stage = stageOf('--to', flags.to);
  const json = flags.reason === undefined ? { stage } : { stage, reason: flags.reason };
  const v = await adminRequest(resolveConnection(flags), {
    call: (api) =>
      api.v1.admin.models[':app'].versions[':version'].stage.$post({ param: versionParam(app, version), json }),
    schema: ModelVersionViewSchema,
  });
  io.out(flags.json ? `${JSON.stringify(v)}\n` : `${v.app} v${v.version} is now ${v.stage}\n`);
}
