/**
 * One training turn with no page open, for a service worker's `sync` /
 * `periodicsync` event: check in once per task, train in this thread when
 * invited (a service worker cannot start Web Workers), queue the encoded
 * update in the outbox and upload it. The round loop does the work; this
 * module only bounds it to a single turn per task and a time cap, because the
 * browser gives a sync event minutes at most and then kills the worker.
 *
 * The update is written to the outbox before the upload (round-loop.ts), so a
 * worker killed after training loses nothing: the next `flock-outbox` sync or
 * page start sends it (`replayOutbox`).
 */
import type { Runtime } from '../../shared/protocol/index.ts';
import type { BackendName } from '../backends/select.ts';
import { FlockEvents } from '../events.ts';
import { FlockTransport } from '../federated/transport.ts';
import type { ClientStore } from '../storage/index.ts';
import { flushOutbox, type FlushOutcome } from './outbox-flush.ts';
import { TrainingScheduler } from './round-loop.ts';
import { inProcessTrainingRunner, type TrainingRunner } from './training-runner.ts';

/** What happened to one task in a background turn. */
export type BackgroundTaskOutcome =
  | { taskId: string; status: 'uploaded'; roundId: string }
  | { taskId: string; status: 'not-uploaded'; roundId: string; reason: string }
  | { taskId: string; status: 'not-selected'; retryAfterSeconds: number }
  | { taskId: string; status: 'no-examples' }
  | { taskId: string; status: 'failed'; reason: string }
  | { taskId: string; status: 'timed-out' };

export interface BackgroundRoundOptions {
  /** Coordinator origin. */
  url: string;
  app: string;
  tasks: string[];
  store: ClientStore;
  /** Backend for the in-process runner (default 'wasm', then 'cpu' if it cannot start). */
  backend?: BackendName;
  assetsUrl?: string;
  /** Whole turn budget in ms (default 4 min: Chromium ends a sync event after 5). */
  timeCapMs?: number;
  runtime?: Runtime;
  /** Most examples used in one round, newest first (default 2000, as in the round loop). */
  maxExamplesPerRound?: number;
  /** Make the runner yourself (tests, the simulator's worker threads); default in-process. */
  runner?: () => Promise<TrainingRunner>;
  fetch?: typeof fetch;
}

async function deviceOf(store: ClientStore, app: string): Promise<{ deviceId: string; token: string }> {
  const device = await store.getDevice(app);
  if (!device)
    throw new Error(
      `no device of app "${app}" is registered in this store; open the app online once (connect()) before background training`,
    );
  return { deviceId: device.deviceId, token: device.token };
}

async function inProcessWithFallback(backend: BackendName, assetsUrl?: string): Promise<TrainingRunner> {
  try {
    return await inProcessTrainingRunner(backend, assetsUrl);
  } catch (error) {
    if (backend === 'cpu') throw error;
    return inProcessTrainingRunner('cpu');
  }
}

/**
 * Take part in at most one round per task, then stop; never runs past `timeCapMs`.
 *
 * @example
 * self.addEventListener('sync', (e) => e.tag === 'flock-train' &&
 *   e.waitUntil(runBackgroundRound({ url: self.location.origin, app: 'digits', tasks, store })));
 */
export async function runBackgroundRound(options: BackgroundRoundOptions): Promise<BackgroundTaskOutcome[]> {
  const { store, app } = options;
  const device = await deviceOf(store, app);
  // The round loop skips check-in without examples and would only wait for the cap.
  if ((await store.countExamples(app)) === 0) return options.tasks.map((taskId) => ({ taskId, status: 'no-examples' }));
  const events = new FlockEvents();
  const outcomes = new Map<string, BackgroundTaskOutcome>();
  const roundTask = new Map<string, string>();
  let settled: () => void = () => {};
  const allSettled = new Promise<void>((resolve) => (settled = resolve));
  const settle = (outcome: BackgroundTaskOutcome) => {
    if (outcomes.has(outcome.taskId)) return;
    outcomes.set(outcome.taskId, outcome);
    if (options.tasks.every((t) => outcomes.has(t))) settled();
  };

  const transport = new FlockTransport({ baseUrl: options.url, token: device.token, fetch: options.fetch });
  // Watch each check-in's answer: a 'retry' ends that task's turn at once instead of sleeping through it.
  const watched = new Proxy(transport, {
    get(target, prop) {
      if (prop === 'checkIn') {
        return async (...args: Parameters<FlockTransport['checkIn']>) => {
          const answer = await target.checkIn(...args);
          if (answer.status === 'retry')
            settle({ taskId: args[0], status: 'not-selected', retryAfterSeconds: answer.retryAfterSeconds });
          else roundTask.set(answer.roundId, args[0]);
          return answer;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  events.on('round-finished', ({ taskId, roundId, uploaded }) =>
    settle(
      uploaded
        ? { taskId, status: 'uploaded', roundId }
        : { taskId, status: 'not-uploaded', roundId, reason: 'the update was refused or training failed' },
    ),
  );
  events.on('error', ({ error }) => {
    // A task whose turn threw before being selected would otherwise wait for the cap.
    const pending = options.tasks.filter((t) => !outcomes.has(t) && ![...roundTask.values()].includes(t));
    for (const taskId of pending) settle({ taskId, status: 'failed', reason: error.message });
  });

  // One turn per task: eligible on each task's first look only.
  let calls = 0;
  const scheduler = new TrainingScheduler({
    app,
    tasks: options.tasks,
    store,
    transport: watched,
    device: async () => device,
    runner: options.runner ?? (() => inProcessWithFallback(options.backend ?? 'wasm', options.assetsUrl)),
    events,
    eligibility: () => {
      return calls++ < options.tasks.length ? { eligible: true } : { eligible: false, reason: 'background turn over' };
    },
    eligibilityPollMs: 60_000,
    runtime: options.runtime ?? 'service-worker',
    ...(options.maxExamplesPerRound === undefined ? {} : { maxExamplesPerRound: options.maxExamplesPerRound }),
  });

  // A sync event fires because the browser believes it is online again: updates that waited out an
  // offline backoff go now, before the check-in, instead of after a backoff that outlasts this turn.
  await flushOutbox({ store, transport, ignoreBackoff: true, kinds: ['update'] }).catch(() => []);

  let timer: ReturnType<typeof setTimeout> | undefined;
  const cap = new Promise<void>((resolve) => (timer = setTimeout(resolve, options.timeCapMs ?? 240_000)));
  scheduler.start();
  try {
    await Promise.race([allSettled, cap]);
  } finally {
    clearTimeout(timer);
    // stop() waits for a training still running; the cap already bounds how long we wait for it.
    let stopTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([scheduler.stop(), new Promise((r) => (stopTimer = setTimeout(r, 5_000)))]);
    clearTimeout(stopTimer);
  }
  return options.tasks.map((taskId) => outcomes.get(taskId) ?? { taskId, status: 'timed-out' });
}

/**
 * Send every due outbox entry once (a `flock-outbox` sync event).
 *
 * @example
 * e.waitUntil(replayOutbox({ url: 'https://flock.example.com', store, app: 'digits' }));
 */
export async function replayOutbox(options: {
  /** The coordinator the entries were queued for. */
  url: string;
  store: ClientStore;
  app: string;
  fetch?: typeof fetch;
}): Promise<FlushOutcome[]> {
  const { token } = await deviceOf(options.store, options.app);
  const transport = new FlockTransport({ baseUrl: options.url, token, fetch: options.fetch });
  return flushOutbox({ store: options.store, transport });
}
