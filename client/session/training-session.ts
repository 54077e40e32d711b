/**
 * Federated training for the tasks `connect({ train })` names: resolves
 * 'auto' to the app's active tasks, hands them to the service worker for
 * background rounds, and runs the training scheduler (eligibility, check-in,
 * the worker, uploads) until close().
 */
import { offlineAwareOutbox } from '../backend-runtime.ts';
import type { ConnectOptions } from '../connect-types.ts';
import type { FlockEvents } from '../events.ts';
import type { FlockTransport } from '../federated/transport.ts';
import type { LocalPrivacySpent } from '../training/index.ts';
import type { ClientStore } from '../storage/index.ts';
import { enableBackgroundTraining } from '../training/background-sync-link.ts';
import {
  TrainingScheduler,
  inProcessTrainingRunner,
  judgeEligibility,
  startTrainingWorker,
  watchDeviceSignals,
} from '../training/index.ts';
import type { DeviceIdentity } from './device-identity.ts';
import type { ModelSession } from './model-session.ts';

export interface TrainingSessionOptions {
  options: ConnectOptions;
  store: ClientStore;
  transport: FlockTransport;
  session: ModelSession;
  identity: DeviceIdentity;
  events: FlockEvents;
}

export class TrainingSession {
  readonly #scheduler: TrainingScheduler | null;
  readonly #signals: ReturnType<typeof watchDeviceSignals> | null;
  readonly #onOnline = () => void this.#scheduler?.flush({ ignoreBackoff: true }).catch(() => {});

  private constructor(scheduler: TrainingScheduler | null, signals: ReturnType<typeof watchDeviceSignals> | null) {
    this.#scheduler = scheduler;
    this.#signals = signals;
    if (scheduler) {
      globalThis.addEventListener?.('online', this.#onOnline);
      scheduler.start();
    }
  }

  /** Starts training when `connect({ train })` asked for it and tasks resolve (else a session that trains nothing). */
  static async start(o: TrainingSessionOptions): Promise<TrainingSession> {
    const train = o.options.train;
    const tasks = train ? await resolveTasks(o, train.tasks) : [];
    if (!train || tasks.length === 0) return new TrainingSession(null, null);
    if (train.background && globalThis.navigator?.serviceWorker?.controller) {
      // Hand the tasks to the page's Flock service worker too, so it trains from sync events when the page is gone.
      void enableBackgroundTraining(tasks).catch((error: unknown) => {
        o.events.emit('error', { error: error instanceof Error ? error : new Error(String(error)), during: 'round' });
      });
    }
    let signals: ReturnType<typeof watchDeviceSignals> | null = null;
    let eligibility = train.eligibility;
    if (!eligibility) {
      const watched = (signals = watchDeviceSignals());
      eligibility = async () => judgeEligibility(await watched.read());
    }
    const backend = () => train.backend ?? o.session.backend;
    const scheduler = new TrainingScheduler({
      app: o.options.app,
      tasks,
      store: offlineAwareOutbox(o.store),
      transport: o.transport,
      device: async () => {
        const d = await o.identity.ensure();
        return { deviceId: d.deviceId, token: d.token };
      },
      runner: () =>
        typeof Worker === 'undefined'
          ? inProcessTrainingRunner(backend())
          : startTrainingWorker({ backend: backend(), createWorker: train.createWorker, timeoutMs: train.timeoutMs }),
      events: o.events,
      eligibility,
      eligibilityPollMs: train.eligibilityPollMs,
      maxExamplesPerRound: train.maxExamplesPerRound,
      runtime: typeof document === 'undefined' ? (typeof Worker === 'undefined' ? 'node' : 'worker') : 'browser',
    });
    return new TrainingSession(scheduler, signals);
  }

  async trainingBackend(): Promise<string | null> {
    return (await this.#scheduler?.trainingBackend()) ?? null;
  }

  privacySpent(): Record<string, LocalPrivacySpent> {
    return this.#scheduler?.privacySpent() ?? {};
  }

  async stop(): Promise<void> {
    globalThis.removeEventListener?.('online', this.#onOnline);
    this.#signals?.stop();
    await this.#scheduler?.stop();
  }
}

/** 'auto': ask the coordinator for the app's active tasks (none when offline: training starts on the next connect). */
async function resolveTasks(o: TrainingSessionOptions, tasks: string[] | 'auto'): Promise<string[]> {
  if (tasks !== 'auto') return tasks;
  try {
    await o.identity.ensure();
    return await o.transport.getActiveTasks(o.options.app);
  } catch {
    return [];
  }
}
