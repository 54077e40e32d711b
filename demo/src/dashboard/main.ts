/**
 * The operator dashboard at /dashboard: tasks and rounds with per-round
 * accuracy and loss, versions with lineage, rollouts and verdicts, devices,
 * epsilon spent. Refreshes every 10 s.
 */
import type { ModelVersionView } from '../../../shared/protocol/index.ts';
import '../styles.css';
import { AdminApiError, adminKey, loadDashboard, type DashboardData, type RoundWithMetrics } from './admin-api.ts';
import { epsilonSeries } from './privacy-series.ts';
import { driftFlags, rolloutPanel, type DriftView, type RolloutDetail } from './rollout-panel.ts';
import { escapeXml as esc, lineChart } from './svg-chart.ts';

const REFRESH_MS = 10_000;

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
  const series = (key: string) => closed.map((r) => ({ x: r.roundNumber, y: num(r.metrics[key]) ?? Number.NaN }));
  return (
    lineChart([{ name: 'train accuracy', color: '#4ade80', points: series('trainAccuracy') }], { title: 'Accuracy per round', yDomain: [0, 1], xLabel: 'round', width: 420 }) +
    lineChart([{ name: 'train loss', color: '#f472b6', points: series('trainLoss') }], { title: 'Loss per round', xLabel: 'round', width: 420 }) +
    lineChart([{ name: 'ε spent', color: '#f59e0b', points: epsilonSeries(closed, versions) }], { title: 'Epsilon spent over rounds', xLabel: 'round', width: 420 })
  );
}

function renderTasks(data: DashboardData): string {
  if (data.tasks.length === 0) return '<p class="muted">No training tasks yet. Start one with <code>npx flock task create</code>.</p>';
  return data.tasks
    .map(({ task, rounds }) => {
      const eps = task.privacySpent ? `ε = ${fmt(task.privacySpent.epsilon, 2)} (δ = ${task.privacySpent.delta})` : 'no central DP';
      const rows = rounds
        .slice(0, 12)
        .map((r) => `<tr><td>${r.roundNumber}</td><td>${pill(r.state)}</td><td>${r.reports}/${r.selected}</td><td>${fmt(num(r.metrics.trainAccuracy))}</td><td>${fmt(num(r.metrics.trainLoss))}</td><td>${r.resultVersion ? `v${r.resultVersion}` : esc(r.failureReason ?? '')}</td></tr>`)
        .join('');
      return `<h3>${esc(task.name ?? task.id)} <span class="muted">(${esc(task.app)}, from v${task.modelVersion})</span> ${pill(task.status)}</h3>
        <p>Rounds completed: ${task.roundsCompleted} · Privacy spent: <strong>${eps}</strong></p>
        <div>${roundCharts(rounds, data.versions.find((a) => a.app === task.app)?.versions ?? [])}</div>
        <table><thead><tr><th>round</th><th>state</th><th>reports/selected</th><th>accuracy</th><th>loss</th><th>result</th></tr></thead><tbody>${rows}</tbody></table>`;
    })
    .join('');
}

function lineage(v: ModelVersionView, byVersion: Map<number, ModelVersionView>): string {
  const chain: number[] = [];
  for (let at: ModelVersionView | undefined = v; at && chain.length < 8; at = at.parentVersion === null ? undefined : byVersion.get(at.parentVersion)) chain.push(at.version);
  return chain.map((n) => `v${n}`).join(' ← ');
}

function renderVersions(data: DashboardData): string {
  const parts = data.versions.filter((a) => a.versions.length > 0);
  if (parts.length === 0) return '<p class="muted">No model versions yet (the coordinator seeds "digits" on first start).</p>';
  return parts
    .map(({ app, versions }) => {
      const byVersion = new Map(versions.map((v) => [v.version, v]));
      const sorted = [...versions].sort((a, b) => b.version - a.version);
      const chart = lineChart([{ name: 'holdout accuracy', color: '#60a5fa', points: sorted.map((v) => ({ x: v.version, y: num(v.metrics.holdoutAccuracy) ?? num(v.metrics.trainAccuracy) ?? Number.NaN })) }], { title: `${app}: accuracy by version`, yDomain: [0, 1], xLabel: 'version', width: 420 });
      const rows = sorted
        .map((v) => `<tr><td>v${v.version}</td><td>${pill(v.stage)}</td><td>${esc(v.source)}</td><td>${esc(lineage(v, byVersion))}</td><td>${fmt(num(v.metrics.holdoutAccuracy) ?? num(v.metrics.trainAccuracy))}</td><td>${v.clients ?? '–'}</td><td>${v.epsilon === null ? '–' : fmt(v.epsilon, 2)}</td><td>${v.variants.map((x) => x.encoding).join(', ')}</td><td>${esc(new Date(v.createdAt).toLocaleString())}</td></tr>`)
        .join('');
      return `<h3>${esc(app)}</h3>${chart}<table><thead><tr><th>version</th><th>stage</th><th>source</th><th>lineage</th><th>accuracy</th><th>clients</th><th>ε</th><th>variants</th><th>created</th></tr></thead><tbody>${rows}</tbody></table>`;
    })
    .join('');
}

function renderRollouts(rollouts: RolloutDetail[] | null, drift: DriftView[]): string {
  const flags = drift.map(driftFlags).join('');
  if (rollouts === null) return `<p class="muted">No rollouts (this coordinator has no rollout API yet).</p>${flags}`;
  if (rollouts.length === 0) return `<p class="muted">No rollouts. Start one with <code>npx flock rollout start --app digits --candidate N</code>.</p>${flags}`;
  return rollouts.map(rolloutPanel).join('<hr>') + flags;
}

function renderDevices(devices: Record<string, unknown>[]): string {
  if (devices.length === 0) return '<p class="muted">No devices registered yet. Open the Digits demo to add one.</p>';
  const backends = new Map<string, number>();
  for (const d of devices) {
    const caps = d.capabilities as { backend?: string } | undefined;
    const b = caps?.backend ?? 'unknown';
    backends.set(b, (backends.get(b) ?? 0) + 1);
  }
  const summary = [...backends].map(([b, n]) => `${esc(b)}: ${n}`).join(' · ');
  const rows = devices
    .slice(0, 50)
    .map((d) => `<tr><td>${esc(String(d.id ?? d.deviceId ?? ''))}</td><td>${esc(String(d.app ?? ''))}</td><td>${esc(String((d.platform as { runtime?: string } | undefined)?.runtime ?? ''))}</td><td>${esc(String((d.capabilities as { backend?: string } | undefined)?.backend ?? ''))}</td><td>${esc(String(d.lastSeenAt ?? d.createdAt ?? ''))}</td></tr>`)
    .join('');
  return `<p>${devices.length} device(s) · backends ${summary}</p><table><thead><tr><th>device</th><th>app</th><th>runtime</th><th>backend</th><th>last seen</th></tr></thead><tbody>${rows}</tbody></table>`;
}

async function refresh(): Promise<void> {
  if (!adminKey.get()) {
    $('key-message').textContent = 'Enter the admin key to see the fleet.';
    return;
  }
  try {
    const data = await loadDashboard();
    $('key-message').textContent = '';
    $('tasks').innerHTML = renderTasks(data);
    $('versions').innerHTML = renderVersions(data);
    $('rollouts').innerHTML = renderRollouts(data.rollouts, data.drift);
    $('devices').innerHTML = renderDevices(data.devices);
    document.body.dataset.loaded = 'true';
  } catch (error) {
    const wrongKey = error instanceof AdminApiError && (error.status === 401 || error.status === 403);
    $('key-message').textContent = wrongKey ? `The admin key was refused (${error.message}). Enter the key flock serve printed.` : `Could not load: ${error instanceof Error ? error.message : String(error)}`;
  }
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
  for (const id of ['tasks', 'versions', 'rollouts', 'devices']) $(id).textContent = '–';
  void refresh();
});
void refresh();
setInterval(() => void refresh(), REFRESH_MS);
