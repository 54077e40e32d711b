/**
 * Entry of the script-tag bundle (`flock.min.js`, global `Flock`). It records
 * the URL it was loaded from so the tfjs wasm files are fetched from beside
 * it, not from a CDN: an installed PWA then works offline.
 *
 * @example
 * <script src="/flock/flock.min.js"></script>
 * <script>Flock.connect({ url: location.origin, app: 'digits' }).then((f) => f.predict(pixels));</script>
 */
import { setAssetBase } from './tfjs-backends.ts';
import { exposeTrainingWorker } from './training/training-api.ts';

// document.currentScript is only set while the script first runs, so read it now.
const script = typeof document === 'undefined' ? null : (document.currentScript as HTMLScriptElement | null);
if (script?.src) setAssetBase(new URL('./', script.src).href);

export * from './index.ts';

// The same file is the training worker: started as a classic Worker it serves
// the training API (see training-runner.ts), on a page this does nothing.
exposeTrainingWorker();
