/**
 * The inbox as DOM: one row per mail with its subject, a preview of its body
 * (text only: bodies are untrusted mail, never HTML), the model's verdict and
 * two buttons to mark it. The rows carry their state in data attributes
 * (`data-label`, `data-spam-probability`, `data-marked`), which is what the
 * styles and the browser test read.
 */
import type { InboxMail } from './inbox-mail.ts';
import type { MailLabel, SpamVerdict } from './verdict.ts';

export interface MailList {
  showVerdict(id: string, verdict: SpamVerdict): void;
  showError(id: string, message: string): void;
  showMarked(id: string, label: MailLabel): void;
  /** Enables or disables every mark button (disabled until a model is loaded). */
  setMarking(enabled: boolean): void;
}

const PREVIEW_CHARS = 140;

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text = '',
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  el.className = className;
  el.textContent = text;
  return el;
}

/**
 * @example
 * const list = renderMailList(document.getElementById('mails')!, mails, (mail, label) => flock.record(mail.text, label));
 * list.showVerdict(mail.id, spamVerdict(await flock.predict(mail.text)));
 */
export function renderMailList(
  container: HTMLElement,
  mails: readonly InboxMail[],
  onMark: (mail: InboxMail, label: MailLabel) => void,
): MailList {
  const rows = new Map<string, HTMLLIElement>();
  const buttons: HTMLButtonElement[] = [];
  container.replaceChildren(
    ...mails.map((mail) => {
      const row = element('li', 'mail');
      row.dataset.mailId = mail.id;
      const details = element('details', 'mail-text');
      const summary = element('summary', 'mail-summary');
      summary.append(
        element('span', 'subject', mail.subject),
        element('span', 'preview', mail.body.replace(/\s+/g, ' ').slice(0, PREVIEW_CHARS)),
      );
      details.append(summary, element('pre', 'body', mail.body));
      const verdict = element('span', 'verdict', '…');
      const marks = element('span', 'marks');
      for (const [label, text] of [
        ['spam', 'Spam'],
        ['ham', 'Not spam'],
      ] as const) {
        const button = element('button', `mark mark-${label}`, text);
        button.type = 'button';
        button.dataset.mark = label;
        button.disabled = true;
        button.onclick = () => onMark(mail, label);
        buttons.push(button);
        marks.append(button);
      }
      row.append(verdict, details, marks);
      rows.set(mail.id, row);
      return row;
    }),
  );
  const row = (id: string) => {
    const found = rows.get(id);
    if (!found) throw new Error(`no mail ${id} in the inbox`);
    return found;
  };
  return {
    showVerdict(id, verdict) {
      const r = row(id);
      r.dataset.label = verdict.label;
      r.dataset.spamProbability = String(verdict.spamProbability);
      const badge = r.querySelector<HTMLElement>('.verdict')!;
      badge.textContent = `${verdict.label === 'spam' ? 'spam' : 'not spam'} ${(verdict.spamProbability * 100).toFixed(0)}%`;
      badge.title = `probability of spam: ${verdict.spamProbability.toFixed(4)}`;
    },
    showError(id, message) {
      const r = row(id);
      r.dataset.label = 'error';
      r.querySelector<HTMLElement>('.verdict')!.textContent = message;
    },
    showMarked(id, label) {
      row(id).dataset.marked = label;
    },
    setMarking(enabled) {
      for (const b of buttons) b.disabled = !enabled;
    },
  };
}
