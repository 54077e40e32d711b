/**
 * The page's side of background training: tell the origin's service worker
 * which tasks to train (it keeps them across restarts) and register the
 * `flock-train` sync, plus a daily periodic sync where the browser grants it
 * (an installed PWA in Chromium). Without Background Sync support the tasks
 * are still saved, and `registered` says what was not available.
 */
import { TRAIN_SYNC_TAG, swTrainConfigRequest, type SwTrainConfigReply } from '../../shared/sw-protocol/index.ts';

/** Sync managers are not in TypeScript's DOM lib yet. */
interface SyncCapableRegistration extends ServiceWorkerRegistration {
  sync?: { register(tag: string): Promise<void> };
  periodicSync?: { register(tag: string, options: { minInterval: number }): Promise<void> };
}

export interface BackgroundTrainingResult {
  tasks: string[];
  registered: { sync: boolean; periodicSync: boolean };
}

/**
 * @throws Error when no service worker is active or it does not answer within `timeoutMs`
 *
 * @example
 * const { registered } = await enableBackgroundTraining(['task_1']);
 * if (!registered.sync) console.info('this browser trains only while the page is open');
 */
export async function enableBackgroundTraining(tasks: string[], timeoutMs = 15_000): Promise<BackgroundTrainingResult> {
  const registration = (await navigator.serviceWorker.ready) as SyncCapableRegistration;
  const worker = registration.active;
  if (!worker)
    throw new Error(
      'no active service worker on this origin; register one (sw.js) before enabling background training',
    );
  const request = swTrainConfigRequest(tasks);
  const channel = new MessageChannel();
  const reply = await new Promise<SwTrainConfigReply>((resolve, reject) => {
    const timer = setTimeout(() => {
      channel.port1.close();
      reject(
        new Error(
          `the service worker did not confirm the task ids within ${timeoutMs} ms; is it a Flock service worker?`,
        ),
      );
    }, timeoutMs);
    channel.port1.onmessage = (
      e: MessageEvent<{ type?: string; meta?: { id?: string }; payload?: { message?: string } }>,
    ) => {
      if (e.data?.meta?.id !== request.meta.id) return;
      clearTimeout(timer);
      channel.port1.close();
      if (e.data.type === 'train-config-result') resolve(e.data as SwTrainConfigReply);
      else
        reject(new Error(`the service worker refused the task ids: ${e.data.payload?.message ?? 'no reason given'}`));
    };
    worker.postMessage(request, [channel.port2]);
  });
  const attempt = (register: (() => Promise<void>) | undefined) =>
    register
      ? register().then(
          () => true,
          () => false,
        )
      : Promise.resolve(false);
  const [sync, periodicSync] = await Promise.all([
    attempt(registration.sync && (() => registration.sync!.register(TRAIN_SYNC_TAG))),
    attempt(
      registration.periodicSync &&
        (() => registration.periodicSync!.register(TRAIN_SYNC_TAG, { minInterval: 24 * 3600_000 })),
    ),
  ]);
  return { tasks: reply.payload.tasks, registered: { sync, periodicSync } };
}
