/// <reference types="vite/client" />
/**
 * The "Inbox" page: real mails (held-out SpamAssassin mails, /inbox/mails.json),
 * each with what the on-device model thinks of it, and two buttons a person
 * uses to mark it spam or not. The page imports the SDK by its package name,
 * as a stranger's app would, and hands it raw mail text only: the model
 * version's own preprocessing (flock-model.json, hashed words) turns a mail
 * into features, in predict() and in record(). Once loaded it works offline:
 * its service worker (/inbox/sw.js) keeps the shell, the SDK keeps the model
 * and the marked mails in IndexedDB, and training rounds carry what was
 * learnt to the coordinator when the network is back.
 */
import { connect, FlockError, type Flock } from 'flock-ml';
import FlockTrainingWorker from 'flock-ml/worker?worker';
import '../styles.css';
import './inbox.css';
import { readInboxMailFile, type InboxMail } from './inbox-mail.ts';
import { renderMailList, type MailList } from './mail-list.ts';
import { spamVerdict, type MailLabel } from './verdict.ts';

const APP = 'inbox';
/** The demo's shell ships the tfjs wasm binaries here (demo/build/pwa-assets.ts), so wasm starts offline. */
const WASM_DIR = '/wasm/';
const RETRY_MS = 4000;
const MARKS_KEY = 'flock-inbox-marks';

const $ = (id: string): HTMLElement => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page lacks #${id}`);
  return el;
};
const say = (id: string, value: string) => void ($(id).textContent = value);
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function loadMarks(): Record<string, MailLabel> {
  try {
    return JSON.parse(localStorage.getItem(MARKS_KEY) ?? '{}') as Record<string, MailLabel>;
  } catch {
    return {};
  }
}

let flock: Flock | null = null;
const marks = loadMarks();

async function refreshStatus(): Promise<void> {
  if (!flock) return;
  const s = await flock.status();
  say('version', s.modelVersion === null ? '–' : `v${s.modelVersion}${s.encoding ? ` (${s.encoding})` : ''}`);
  say('backend', s.backend);
  say('examples', String(s.examples));
  say('uploads', String(s.pendingUploads));
}

async function mark(list: MailList, mail: InboxMail, label: MailLabel): Promise<void> {
  if (!flock) return;
  try {
    await flock.record(mail.text, label);
  } catch (error) {
    say('message', `Could not keep that mark: ${errorText(error)}`);
    return;
  }
  marks[mail.id] = label;
  localStorage.setItem(MARKS_KEY, JSON.stringify(marks));
  list.showMarked(mail.id, label);
  say(
    'message',
    `Marked "${mail.subject}" as ${label === 'spam' ? 'spam' : 'not spam'}: kept on this device for training.`,
  );
  await refreshStatus();
}

async function predictAll(list: MailList, mails: readonly InboxMail[]): Promise<void> {
  const client = flock;
  if (!client) return;
  const started = performance.now();
  // All at once: the SDK batches predictions that arrive together.
  await Promise.all(
    mails.map(async (mail) => {
      try {
        list.showVerdict(mail.id, spamVerdict(await client.predict(mail.text)));
      } catch (error) {
        list.showError(mail.id, errorText(error));
      }
    }),
  );
  say('latency', `${(performance.now() - started).toFixed(0)} ms for ${mails.length} mails`);
}

function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator)) return say('sw-state', 'not supported by this browser');
  navigator.serviceWorker.register('/inbox/sw.js', { scope: '/inbox/' }).then(
    async () => {
      await navigator.serviceWorker.ready;
      say('sw-state', 'active (works offline)');
    },
    (error: unknown) => say('sw-state', `registration failed: ${errorText(error)}`),
  );
}

async function connectWhenReady(): Promise<Flock> {
  for (;;) {
    try {
      return await connect({
        url: location.origin,
        app: APP,
        assetsUrl: WASM_DIR,
        // Rounds run in a Worker when the page is hidden or idle, and from the service worker's sync events.
        train: { tasks: 'auto', background: true, createWorker: () => new FlockTrainingWorker() },
      });
    } catch (error) {
      // The coordinator trains the inbox model at its first start: wait for it rather than give up.
      say(
        'message',
        error instanceof FlockError && error.code === 'no_model'
          ? 'The coordinator has no inbox model yet (it trains one on first start); retrying…'
          : `Could not load the model: ${errorText(error)}; retrying…`,
      );
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
}

async function start(): Promise<void> {
  registerServiceWorker();
  const response = await fetch('/inbox/mails.json');
  if (!response.ok) throw new Error(`/inbox/mails.json answered ${response.status}`);
  const { mails, source } = readInboxMailFile(await response.json());
  say('source', `${mails.length} mails from the ${source}`);
  const list = renderMailList($('mails'), mails, (mail, label) => void mark(list, mail, label));
  for (const mail of mails) if (marks[mail.id]) list.showMarked(mail.id, marks[mail.id]);

  flock = await connectWhenReady();
  flock.on('model-updated', ({ version }) => {
    say('message', `Model updated to v${version}; reading the inbox again.`);
    void predictAll(list, mails).then(refreshStatus);
  });
  flock.on('round-finished', ({ uploaded }) =>
    say(
      'message',
      uploaded ? 'Your marks trained the shared model (update sent).' : 'A training round ended without an upload.',
    ),
  );
  await predictAll(list, mails);
  list.setMarking(true);
  await refreshStatus();
  say('message', 'Mark a mail spam or not spam to teach the filter on your device.');
  document.body.dataset.ready = 'true';
}

start().catch((error: unknown) => say('message', `The inbox could not start: ${errorText(error)}`));
