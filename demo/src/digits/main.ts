/**
 * The "Digits" page: draw, see what the on-device model reads, correct it.
 * The model runs in this page through the SDK (bundled, not the script-tag
 * build); the service worker is a second Flock client the page can ask.
 */
import { connect, FlockError, type Flock } from '../../../client/index.ts';
import '../styles.css';
import { toMnistInput } from './downsample.ts';
import { drawingPad, showInput } from './drawing-pad.ts';
import { registerServiceWorker } from './service-worker-link.ts';

const APP = 'digits';
/** The shell ships the tfjs wasm binaries here, so the wasm backend starts offline. */
const WASM_DIR = '/wasm/';
const RETRY_MS = 4000;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page lacks #${id}`);
  return el as T;
};
const text = (id: string, value: string) => void ($(id).textContent = value);

const pad = drawingPad($<HTMLCanvasElement>('pad'));
let flock: Flock | null = null;
let lastInput: Float32Array | null = null;

text(
  'threads',
  crossOriginIsolated && typeof SharedArrayBuffer !== 'undefined'
    ? 'available (cross-origin isolated)'
    : 'unavailable (page is not cross-origin isolated)',
);

const link = registerServiceWorker({
  onState: (s) => text('sw-state', s),
  onUpdateAvailable: (apply) => {
    $('update').hidden = false;
    $('update-apply').onclick = () => {
      $('update').hidden = true;
      apply();
    };
  },
});

async function refreshStatus(): Promise<void> {
  if (!flock) return;
  const s = await flock.status();
  text('backend', s.backend);
  text('version', s.modelVersion === null ? '–' : `v${s.modelVersion}${s.encoding ? ` (${s.encoding})` : ''}`);
  text('cohort', s.cohort ?? 'production (no rollout)');
  text('examples', String(s.examples));
}

async function predictDrawing(): Promise<void> {
  const input = toMnistInput(pad.ink(), 280);
  showInput($<HTMLCanvasElement>('preview'), input);
  if (!input.some((v) => v > 0)) return;
  lastInput = input;
  if (!flock) return;
  const started = performance.now();
  const p = await flock.predict(input);
  const ms = performance.now() - started;
  text('label', String(p.label));
  text('confidence', ` ${(p.confidence * 100).toFixed(1)}%`);
  text('latency', `${ms.toFixed(1)} ms`);
  text('message', 'Wrong? Correct it below.');
  $<HTMLFieldSetElement>('correct').disabled = false;
  $<HTMLButtonElement>('ask-worker').disabled = link === null;
  await refreshStatus();
}

for (let digit = 0; digit <= 9; digit++) {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = String(digit);
  button.dataset.digit = String(digit);
  button.onclick = async () => {
    if (!flock || !lastInput) return;
    await flock.record(lastInput, digit);
    text('message', `Saved as a ${digit}; it stays on this device and helps the next training round.`);
    await refreshStatus();
  };
  $('correct-buttons').append(button);
}

pad.onStroke(
  () =>
    void predictDrawing().catch((e: unknown) =>
      text('message', `Prediction failed: ${e instanceof Error ? e.message : String(e)}`),
    ),
);
$('clear').onclick = () => {
  pad.clear();
  lastInput = null;
  text('label', '–');
  text('confidence', '');
  $<HTMLFieldSetElement>('correct').disabled = true;
};
$('ask-worker').onclick = async () => {
  if (!link || !lastInput) return;
  text('sw-answer', 'asking…');
  try {
    const reply = await link.predict(lastInput);
    if (reply.type === 'predict-result') {
      const r = reply.payload;
      text(
        'sw-answer',
        `${r.label} (${(r.confidence * 100).toFixed(1)}%) from the ${reply.meta.answeredBy}, ${r.backend}, v${r.modelVersion ?? '?'}, ${r.latencyMs.toFixed(1)} ms`,
      );
    } else if (reply.type === 'error') text('sw-answer', `error ${reply.payload.code}: ${reply.payload.message}`);
  } catch (e) {
    text('sw-answer', e instanceof Error ? e.message : String(e));
  }
};

async function start(): Promise<void> {
  for (;;) {
    try {
      flock = await connect({
        url: location.origin,
        app: APP,
        assetsUrl: WASM_DIR,
        train: { tasks: 'auto', background: true },
      });
      break;
    } catch (error) {
      // The coordinator trains its first model on first start: wait for it rather than give up.
      const why =
        error instanceof FlockError && error.code === 'no_model'
          ? 'The coordinator has no model yet (it trains one on first start); retrying…'
          : `Could not load the model: ${error instanceof Error ? error.message : String(error)}; retrying…`;
      text('message', why);
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
  flock.on('round-finished', ({ uploaded }) =>
    text(
      'message',
      uploaded
        ? 'Your corrections trained the shared model (update sent).'
        : 'A training round ended without an upload.',
    ),
  );
  flock.on('model-updated', ({ version }) => {
    text('message', `Model updated to v${version}.`);
    void refreshStatus();
  });
  document.body.dataset.ready = 'true';
  text('message', 'Draw a digit (0–9) in the black box.');
  await refreshStatus();
  if (lastInput) await predictDrawing();
}

void start();
