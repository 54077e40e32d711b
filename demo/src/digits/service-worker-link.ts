/**
 * The page's side of the service worker: registration through workbox-window,
 * the "update available" flow, and predictions asked of the worker over a
 * MessageChannel (always with a timeout: a worker may be stopped mid-request).
 */
import { Workbox } from 'workbox-window';
import { isSwReply, swRequest, type SwReply, type SwRequest } from '../../../shared/sw-protocol/index.ts';

export interface ServiceWorkerLink {
  /** Resolves once a worker controls this page (immediately if one does). */
  ready(): Promise<void>;
  ask(request: SwRequest, timeoutMs?: number): Promise<SwReply>;
  predict(input: Float32Array, timeoutMs?: number): Promise<SwReply>;
}

export interface LinkEvents {
  onState(text: string): void;
  /** A new worker waits; call `apply` to activate it. */
  onUpdateAvailable(apply: () => void): void;
}

/**
 * @example
 * const link = registerServiceWorker({ onState: show, onUpdateAvailable: (apply) => button.onclick = apply });
 * const reply = await link.predict(input);
 */
export function registerServiceWorker(events: LinkEvents): ServiceWorkerLink | null {
  if (!('serviceWorker' in navigator)) {
    events.onState('not supported by this browser');
    return null;
  }
  const wb = new Workbox('/sw.js');
  wb.addEventListener('waiting', () => {
    events.onUpdateAvailable(() => {
      // The page keeps its loaded model: the new worker only changes the shell
      // served on the next navigation, so no reload is forced here.
      wb.addEventListener('controlling', () => events.onState('updated: the new version loads on the next visit'));
      wb.messageSkipWaiting();
    });
  });
  wb.addEventListener('activated', (e) => events.onState(e.isUpdate ? 'updated' : 'active (works offline)'));
  wb.register().then(
    () => navigator.serviceWorker.controller && events.onState('active (works offline)'),
    (error: unknown) =>
      events.onState(`registration failed: ${error instanceof Error ? error.message : String(error)}`),
  );

  const ready = async () => {
    if (navigator.serviceWorker.controller) return;
    await new Promise<void>((resolve) =>
      navigator.serviceWorker.addEventListener('controllerchange', () => resolve(), { once: true }),
    );
  };

  const ask = async (request: SwRequest, timeoutMs = 15_000): Promise<SwReply> => {
    const worker = navigator.serviceWorker.controller ?? (await navigator.serviceWorker.ready).active;
    if (!worker)
      return {
        type: 'error',
        meta: { id: request.meta.id, answeredBy: 'service-worker', shellVersion: '' },
        payload: { code: 'no_worker', message: 'no service worker is active yet' },
      };
    const channel = new MessageChannel();
    return new Promise<SwReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        channel.port1.close();
        reject(new Error(`the service worker did not answer "${request.type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      channel.port1.onmessage = (e: MessageEvent<unknown>) => {
        if (!isSwReply(e.data) || e.data.meta.id !== request.meta.id) return;
        clearTimeout(timer);
        channel.port1.close();
        resolve(e.data);
      };
      worker.postMessage(request, [channel.port2]);
    });
  };

  return {
    ready,
    ask,
    predict: (input, timeoutMs) => ask(swRequest('predict', { input: Array.from(input) }), timeoutMs),
  };
}
