/**
 * Operator actions from the dashboard: rollout pause / resume / promote /
 * abort and task pause / resume. Which buttons a rollout or task gets follows
 * its status (the coordinator's rules: service.ts, admin-tasks.ts); each
 * button carries what its confirmation says. Clicking one asks for a reason
 * (confirm-dialog.ts) and POSTs it to the same admin route the CLI calls, so
 * the reason lands in the audit entry.
 */
import { operatorAction } from './admin-api.ts';
import { askReason } from './confirm-dialog.ts';
import { escapeXml as esc } from './svg-chart.ts';

export type RolloutAction = 'pause' | 'resume' | 'promote' | 'abort';
export type TaskAction = 'pause' | 'resume';

interface ActionButton {
  kind: 'rollouts' | 'tasks';
  id: string;
  action: string;
  label: string;
  /** The confirmation's question and what the action does. */
  title: string;
  detail: string;
  danger: boolean;
}

/** Actions the coordinator accepts in each rollout status (ended rollouts take none). */
export function rolloutActionsFor(status: string): RolloutAction[] {
  if (status === 'running') return ['pause', 'promote', 'abort'];
  if (status === 'paused' || status === 'halted') return ['resume', 'promote', 'abort'];
  return [];
}

export function taskActionsFor(status: string): TaskAction[] {
  if (status === 'active') return ['pause'];
  if (status === 'paused') return ['resume'];
  return [];
}

function button(b: ActionButton): string {
  return `<button type="button" class="action${b.danger ? ' danger' : ''}" data-kind="${b.kind}" data-id="${esc(b.id)}" data-action="${b.action}" data-title="${esc(b.title)}" data-detail="${esc(b.detail)}">${esc(b.label)}</button>`;
}

/**
 * @example
 * html += rolloutActionBar({ id: 'ro_1', status: 'running', candidateVersion: 2, controlVersion: 1 });
 */
export function rolloutActionBar(r: {
  id: string;
  app: string;
  status: string;
  candidateVersion: number;
  controlVersion: number;
}): string {
  const what: Record<RolloutAction, Omit<ActionButton, 'kind' | 'id' | 'action'>> = {
    pause: {
      label: 'Pause',
      danger: false,
      title: `Pause the rollout of ${r.app} v${r.candidateVersion}?`,
      detail:
        "No automatic advance, promotion or rollback until it is resumed; every device keeps its cohort's version.",
    },
    resume: {
      label: 'Resume',
      danger: false,
      title: `Resume the rollout of ${r.app} v${r.candidateVersion}?`,
      detail: 'The stage window starts again, so the evidence is gathered afresh before the next decision.',
    },
    promote: {
      label: 'Promote now',
      danger: true,
      title: `Promote ${r.app} v${r.candidateVersion} to production now?`,
      detail: `Every device moves to v${r.candidateVersion}, skipping the remaining stages and the canary analysis.`,
    },
    abort: {
      label: 'Abort',
      danger: true,
      title: `Abort the rollout of ${r.app} v${r.candidateVersion}?`,
      detail: `Every device goes back to v${r.controlVersion}; v${r.candidateVersion} returns to the candidate stage.`,
    },
  };
  const buttons = rolloutActionsFor(r.status).map((action) =>
    button({ kind: 'rollouts', id: r.id, action, ...what[action] }),
  );
  const audit = `<button type="button" class="link" data-audit-target="${esc(r.id)}">audit log</button>`;
  return `<div class="actions" data-rollout-actions="${esc(r.id)}">${buttons.join('')}${audit}</div>`;
}

/**
 * @example
 * html += taskActionBar({ id: 'task_1', name: 'digits from v1', status: 'active' });
 */
export function taskActionBar(t: { id: string; name: string | null; status: string }): string {
  const name = t.name ?? t.id;
  const buttons = taskActionsFor(t.status).map((action) =>
    action === 'pause'
      ? button({
          kind: 'tasks',
          id: t.id,
          action,
          label: 'Pause task',
          danger: false,
          title: `Pause task "${name}"?`,
          detail: 'No new round opens until it is resumed; a round already open still closes.',
        })
      : button({
          kind: 'tasks',
          id: t.id,
          action,
          label: 'Resume task',
          danger: false,
          title: `Resume task "${name}"?`,
          detail: 'Rounds open again as devices check in.',
        }),
  );
  return buttons.length ? `<div class="actions" data-task-actions="${esc(t.id)}">${buttons.join('')}</div>` : '';
}

/**
 * Handle clicks on action buttons under `root`: confirm with a reason, POST,
 * then report through `done` (the message to show, and whether it failed).
 *
 * @example
 * bindOperatorActions(document.body, (message, failed) => show(message, failed));
 */
export function bindOperatorActions(root: HTMLElement, done: (message: string, failed: boolean) => void): void {
  root.addEventListener('click', async (e) => {
    const el = (e.target as Element | null)?.closest<HTMLButtonElement>('button[data-action]');
    if (!el) return;
    const { kind, id, action, title, detail } = el.dataset;
    if (!kind || !id || !action) return;
    const reason = await askReason({
      title: title ?? `${action} ${id}?`,
      detail: detail ?? '',
      confirmLabel: el.textContent ?? action,
      danger: el.classList.contains('danger'),
    });
    if (reason === null) return;
    try {
      if (kind !== 'rollouts' && kind !== 'tasks') return;
      const answer = await operatorAction(kind, id, action, reason);
      done(`${action} ${id}: now ${answer.status} (reason recorded in the audit log)`, false);
    } catch (error) {
      done(`${action} ${id} failed: ${error instanceof Error ? error.message : String(error)}`, true);
    }
  });
}
