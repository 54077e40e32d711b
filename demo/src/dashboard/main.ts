/**
 * The operator dashboard at /dashboard, one app at a time: rollouts with
 * their verdicts and the operator's actions on them, drift with its sample
 * sizes, tasks and rounds (accuracy, loss, epsilon spent) with pause/resume,
 * versions with lineage, the device census, and the audit log. Every action
 * goes through the admin API the CLI uses. Live: re-reads every few seconds
 * while the tab is visible, and at once after an action.
 */
import type { ModelVersionView } from '../../../shared/protocol/index.ts';
import '../styles.css';
import './dashboard.css';
import { AdminApiError, adminKey, loadDashboard, type DashboardData, type RoundWithMetrics } from './admin-api.ts';
import { AppPicker } from './app-picker.ts';
import { AuditPanel } from './audit-panel.ts';
import { bindConfirmDialog } from './confirm-dialog.ts';
import { devicePanel } from './device-panel.ts';
import { bindOperatorActions, rolloutActionBar, taskActionBar } from './operator-actions.ts';
import { localTime } from './local-time.ts';
import { epsilonSeries } from './privacy-series.ts';
import { driftFlags, rolloutPanel, type RolloutDetail } from './rollout-panel.ts';
import { SECURE_AGGREGATION_HEADERS, secureAggregationCells } from './secure-aggregation-cells.ts';
import { escapeXml as esc, lineChart } from './svg-chart.ts';

/** Live refresh period while the tab is visible. */
export const REFRESH_MS = 5_000;
const PANELS = ['rollouts', 'drift', 'tasks', 'versions', 'devices'] as const;

const $ = (id: string) => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the dashboard lacks #${id}`);
  return el;
};

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const fmt = (v: number | null, digits = 3) => (v === null ? '–' : Number(v.toFixed(digits)).toString());
const pill = (text: string) => `<span class="pill ${esc(text)}">${esc(text)}</span>`;

function roundCharts(rounds: RoundWithMetrics[], versions: ModelVersionView[]): string {
  const closed = rounds.filter((r) => r.state === 'closed');
  // Three empty "no data yet" charts said nothing and took half a screen.
  if (closed.length === 0)
    return '<p class="muted">No round has closed yet: accuracy, loss and epsilon charts appear with the first.</p>';
  const series = (key: string) => closed.map((r) => ({ x: r.roundNumber, y: num(r.metrics[key]) ?? Number.NaN }));
  // Holdout figures when the task evaluates (plan.evaluation), train figures when devices report them; no empty legend entries.
  const present = <T extends { points: { y: number }[] }>(list: T[]) => {
    const kept = list.filter((s) => s.points.some((p) => Number.isFinite(p.y)));
    return kept.length ? kept : list.slice(0, 1);
  };
  return (
    lineChart(
      present([
        { name: 'holdout accuracy', color: '#60a5fa', points: series('holdoutAccuracy') },
        { name: 'train accuracy', color: '#4ade80', points: series('trainAccuracy') },
      ]),
      { title: 'Accuracy per round', yDomain: [0, 1], xLabel: 'round', width: 420 },
    ) +
    lineChart(
      present([
        { name: 'holdout loss', color: '#a78bfa', points: series('holdoutLoss') },
        { name: 'train loss', color: '#f472b6', points: series('trainLoss') },
      ]),
      { title: 'Loss per round', xLabel: 'round', width: 420 },
    ) +
    lineChart([{ name: 'ε spent', color: '#f59e0b', points: epsilonSeries(closed, versions) }], {
      title: 'Epsilon spent over rounds',
      xLabel: 'round',
      width: 420,
    })
  );
}

function renderTasks(data: DashboardData): string {
  if (data.tasks.length === 0)
    return `<p class="muted">No training tasks for ${esc(data.app)}. Start one with <code>npx flock task create</code>.</p>`;
  return data.tasks
    .map(({ task, rounds }) => {
      const eps = task.privacySpent
        ? `ε = ${fmt(task.privacySpent.epsilon, 2)} (δ = ${task.privacySpent.delta})`
        : '<span class="pill warn">no DP noise</span> (this task adds none: an explicit choice in its plan)';
      const shown = rounds.slice(0, 12);
      const secure = shown.some((r) => r.secureAggregation);
      const rows = shown
        .map(
          (r) =>
            `<tr><td>${r.roundNumber}</td><td>${pill(r.state)}</td><td>${r.reports}/${r.selected}</td><td>${fmt(num(r.metrics.holdoutAccuracy) ?? num(r.metrics.trainAccuracy))}</td><td>${fmt(num(r.metrics.holdoutLoss) ?? num(r.metrics.trainLoss))}</td>${secure ? secureAggregationCells(r.secureAggregation).join('') : ''}<td>${r.resultVersion ? `v${r.resultVersion}` : esc(r.failureReason ?? '')}</td></tr>`,
        )
        .join('');
      const secureHeads = secure ? SECURE_AGGREGATION_HEADERS.map((h) => `<th>${esc(h)}</th>`).join('') : '';
      return `<div class="task" data-task-id="${esc(task.id)}"><h3>${esc(task.name ?? task.id)} <span class="muted">(from v${task.modelVersion})</span> ${pill(task.status)}</h3>
        ${taskActionBar(task)}
        <p>Rounds completed: ${task.roundsCompleted} · Privacy spent: <strong>${eps}</strong></p>
        <div class="charts">${roundCharts(rounds, data.versions)}</div>
        ${rows ? `<table><thead><tr><th>round</th><th>state</th><th>reports/selected</th><th>accuracy</th><th>loss</th>${secureHeads}<th>result</th></tr></thead><tbody>${rows}</tbody></table>` : ''}</div>`;
    })
    .join('');
}

function lineage(v: ModelVersionView, byVersion: Map<number, ModelVersionView>): string {
  const chain: number[] = [];
  for (
    let at: ModelVersionView | undefined = v;
    at && chain.length < 8;
    at = at.parentVersion === null ? undefined : byVersion.get(at.parentVersion)
  )
    chain.push(at.version);
  return chain.map((n) => `v${n}`).join(' ← ');
}

function renderVersions(data: DashboardData): string {
  const { app, versions } = data;
  if (versions.length === 0) return `<p class="muted">No model versions of ${esc(app)} yet.</p>`;
  const byVersion = new Map(versions.map((v) => [v.version, v]));
  const sorted = [...versions].sort((a, b) => b.version - a.version);
  const accuracies = sorted.filter((v) => (num(v.metrics.holdoutAccuracy) ?? num(v.metrics.trainAccuracy)) !== null);
  const chart =
    accuracies.length === 0
      ? ''
      : lineChart(
          [
            {
              name: 'holdout accuracy',
              color: '#60a5fa',
              points: sorted.map((v) => ({
                x: v.version,
                y: num(v.metrics.holdoutAccuracy) ?? num(v.metrics.trainAccuracy) ?? Number.NaN,
              })),
            },
          ],
          { title: `${app}: accuracy by version`, yDomain: [0, 1], xLabel: 'version', width: 420 },
        );
  const rows = sorted
    .map(
      (v) =>
        `<tr><td>v${v.version}</td><td>${pill(v.stage)}</td><td>${esc(v.source)}</td><td>${esc(lineage(v, byVersion))}</td><td>${fmt(num(v.metrics.holdoutAccuracy) ?? num(v.metrics.trainAccuracy))}</td><td>${v.clients ?? '–'}</td><td>${v.epsilon === null ? '–' : fmt(v.epsilon, 2)}</td><td>${v.variants.map((x) => x.encoding).join(', ')}</td><td>${esc(localTime(v.createdAt))}</td></tr>`,
    )
    .join('');
  return `${chart}<table><thead><tr><th>version</th><th>stage</th><th>source</th><th>lineage</th><th>accuracy</th><th>clients</th><th>ε</th><th>variants</th><th>created</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function renderRollouts(app: string, rollouts: RolloutDetail[] | null): string {
  if (rollouts === null) return '<p class="muted">No rollouts (this coordinator has no rollout API yet).</p>';
  if (rollouts.length === 0)
    return `<p class="muted">No rollouts of ${esc(app)}. Start one with <code>npx flock rollout start --app ${esc(app)} --candidate N</code>.</p>`;
  return rollouts
    .map(
      (r) =>
        `<div class="rollout" data-rollout-id="${esc(r.id)}" data-status="${esc(r.status)}">${rolloutPanel(r, rolloutActionBar(r))}</div>`,
    )
    .join('<hr>');
}

const picker = new AppPicker(() => {
  say('', false); // a message about another app's rollout would mislead here
  void refresh();
});
const audit = new AuditPanel();
let inFlight: Promise<void> | null = null;

/** How long an action's outcome stays in the toolbar. */
const MESSAGE_MS = 15_000;
let messageTimer: ReturnType<typeof setTimeout> | undefined;

function say(message: string, failed: boolean): void {
  const el = $('action-message');
  el.textContent = message;
  el.className = failed ? 'error' : 'ok';
  clearTimeout(messageTimer);
  if (message) messageTimer = setTimeout(() => say('', false), MESSAGE_MS);
}

async function load(): Promise<void> {
  if (!adminKey.get()) {
    $('key-message').textContent = 'Enter the admin key to see the fleet.';
    return;
  }
  try {
    await picker.load();
    $('key-message').textContent = '';
    const app = picker.app;
    if (app === null) {
      for (const id of PANELS)
        $(id).innerHTML = '<p class="muted">No apps yet: push a model with <code>npx flock model push</code>.</p>';
    } else {
      const data = await loadDashboard(app);
      if (picker.app !== app) return; // the operator picked another app meanwhile
      $('rollouts').innerHTML = renderRollouts(app, data.rollouts);
      $('drift').innerHTML = data.drift
        ? driftFlags(data.drift)
        : '<p class="muted">No drift report from this coordinator.</p>';
      $('tasks').innerHTML = renderTasks(data);
      $('versions').innerHTML = renderVersions(data);
      $('devices').innerHTML = devicePanel(data.devices, data.census);
    }
    await audit.refresh();
    $('key-card').classList.add('compact');
    $('live').textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = 'true';
    document.body.dataset.refreshedAt = String(Date.now());
  } catch (error) {
    const wrongKey = error instanceof AdminApiError && (error.status === 401 || error.status === 403);
    if (wrongKey) $('key-card').classList.remove('compact');
    $('key-message').textContent = wrongKey
      ? `The admin key was refused (${error.message}). Enter the key flock serve printed.`
      : `Could not load: ${error instanceof Error ? error.message : String(error)}`;
    $('live').textContent = 'live updates failing; retrying';
  }
}

/** One load at a time; a refresh asked for meanwhile runs once the current one ends. */
async function refresh(): Promise<void> {
  while (inFlight !== null) await inFlight;
  inFlight = load().finally(() => {
    inFlight = null;
  });
  return inFlight;
}

$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('key') as HTMLInputElement;
  if (input.value.trim()) adminKey.set(input.value);
  input.value = '';
  void refresh();
});
$('forget').addEventListener('click', () => {
  adminKey.clear();
  $('key-card').classList.remove('compact');
  for (const id of [...PANELS, 'audit-entries']) $(id).textContent = '–';
  delete document.body.dataset.loaded;
  void refresh();
});
bindConfirmDialog();
bindOperatorActions($('dashboard'), (message, failed) => {
  say(message, failed);
  void refresh();
});
$('dashboard').addEventListener('click', (e) => {
  const target = (e.target as Element | null)?.closest<HTMLElement>('[data-audit-target]')?.dataset.auditTarget;
  if (target) audit.showTarget(target);
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') void refresh();
});
void refresh();
setInterval(() => {
  // Nothing to show a hidden tab; and never re-render under an open confirmation.
  if (document.visibilityState === 'visible' && inFlight === null && !($('confirm') as HTMLDialogElement).open)
    void refresh();
}, REFRESH_MS);
