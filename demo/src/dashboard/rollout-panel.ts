/**
 * One rollout as the dashboard shows it: status and stage, the latest
 * verdict with canary-vs-control bars and the evidence table (test, p-value,
 * samples, threshold), the sample-ratio check, the shadow report; and the
 * app's drift flags. Pure: plain view data in, an HTML string out.
 */
import { pairedBarChart, type BarGroup } from './bar-chart.ts';
import { localTime } from './local-time.ts';
import { escapeXml as esc } from './svg-chart.ts';

/** The rollout view of `GET /v1/admin/rollouts/:id` (coordinator/routes/admin-rollouts.ts), as far as shown here. */
export interface RolloutDetail {
  id: string;
  app: string;
  candidateVersion: number;
  controlVersion: number;
  status: string;
  stages: number[];
  stageIndex: number;
  canaryPercent: number;
  reason: string | null;
  lastVerdict: Record<string, unknown> | null;
  shadow?: { version: number; sampleRate: number } | null;
  shadowReport?: Record<string, unknown> | null;
}

/** `GET /v1/admin/models/:app/drift` (coordinator/rollouts/drift.ts). */
export interface DriftView {
  app: string;
  referenceVersion: number | null;
  threshold: number;
  /** Observations and devices each side needs before a PSI is judged; absent from coordinators before sample sizes. */
  minSamples?: number;
  minDevices?: number;
  versions: {
    version: number;
    psi: Record<string, number>;
    drifted: string[];
    samples?: { reference: DriftSide; version: DriftSide };
    status?: 'pass' | 'drift' | 'insufficient';
  }[];
}

interface DriftSide {
  observations: number;
  devices: number;
}

interface Evidence {
  metric: string;
  outcome: BarGroup['tone'];
  test: string;
  canary: number | null;
  control: number | null;
  harm: number | null;
  pValue: number | null;
  samples: { canary: number; control: number };
  threshold: number;
  detail: string;
}

const OUTCOMES = new Set(['pass', 'marginal', 'fail', 'insufficient']);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const fmt = (v: number | null, digits = 3) => (v === null ? '–' : Number(v.toPrecision(digits)).toString());
const pill = (text: string) => `<span class="pill ${esc(text)}">${esc(text)}</span>`;

/** The verdict's per-metric evidence, dropping anything malformed (the verdict is stored JSON). */
export function evidenceOf(verdict: Record<string, unknown> | null): Evidence[] {
  const metrics = verdict?.metrics;
  if (!Array.isArray(metrics)) return [];
  return metrics.flatMap((m): Evidence[] => {
    if (typeof m !== 'object' || m === null) return [];
    const o = m as Record<string, unknown>;
    if (typeof o.metric !== 'string' || typeof o.outcome !== 'string' || !OUTCOMES.has(o.outcome)) return [];
    const samples = (o.samples ?? {}) as Record<string, unknown>;
    return [
      {
        metric: o.metric,
        outcome: o.outcome as Evidence['outcome'],
        test: String(o.test ?? ''),
        canary: num(o.canary),
        control: num(o.control),
        harm: num(o.harm),
        pValue: num(o.pValue),
        samples: { canary: num(samples.canary) ?? 0, control: num(samples.control) ?? 0 },
        threshold: num(o.threshold) ?? 0,
        detail: String(o.detail ?? ''),
      },
    ];
  });
}

function srmLine(srm: unknown): string {
  if (typeof srm !== 'object' || srm === null)
    return '<p class="muted">Sample-ratio check: not enough exposed devices yet.</p>';
  const s = srm as Record<string, unknown>;
  const observed = num(s.observedCanaryShare);
  const expected = num(s.expectedCanaryShare);
  return `<p>Sample ratio: ${num(s.canaryExposed) ?? 0} canary / ${num(s.controlExposed) ?? 0} control exposed, observed ${fmt(observed === null ? null : observed * 100)}% vs expected ${fmt(expected === null ? null : expected * 100)}%, p = ${fmt(num(s.pValue))} ${s.mismatch === true ? pill('fail') + ' mismatch: halted' : pill('pass')}</p>`;
}

function shadowLine(r: RolloutDetail): string {
  if (!r.shadow) return '';
  const s = r.shadowReport ?? {};
  const rate = num(s.agreementRate);
  const delta = num(s.latencyDeltaMs);
  return `<p data-shadow>Shadow v${r.shadow.version} on ${fmt(r.shadow.sampleRate * 100)}% of inferences: ${num(s.comparisons) ?? 0} compared on ${num(s.devices) ?? 0} devices · agreement <strong>${rate === null ? '–' : `${fmt(rate * 100)}%`}</strong> · latency ${delta === null ? '–' : `${delta >= 0 ? '+' : ''}${fmt(delta)} ms`}</p>`;
}

/**
 * `actions` (operator buttons) go right under the heading, before the evidence, so they are in reach without scrolling.
 * @example
 * el.innerHTML = rolloutPanel(await getAdmin('/v1/admin/rollouts/ro_1'));
 */
export function rolloutPanel(r: RolloutDetail, actions = ''): string {
  const v = r.lastVerdict;
  const evidence = evidenceOf(v);
  const verdict = typeof v?.verdict === 'string' ? v.verdict : null;
  const head = `<h3>${esc(r.app)}: v${r.candidateVersion} vs v${r.controlVersion} ${pill(r.status)} <span class="muted">${esc(r.id)}</span></h3>
    <p>Stage ${r.stageIndex + 1}/${r.stages.length} at <strong>${r.canaryPercent}%</strong> canary (stages ${r.stages.join(' → ')}%)${r.reason ? ` · ${esc(r.reason)}` : ''}</p>${actions}`;
  if (!v)
    return `${head}<p class="muted">No verdict yet: the first evaluation runs within seconds of the start.</p>${shadowLine(r)}`;
  const bars = pairedBarChart(
    evidence.map((e) => ({ label: e.metric, canary: e.canary, control: e.control, tone: e.outcome })),
    { title: 'Canary vs control (latest stage)', width: 520 },
  );
  const rows = evidence
    .map(
      (e) =>
        `<tr data-metric="${esc(e.metric)}"><td>${esc(e.metric)}</td><td>${pill(e.outcome ?? 'insufficient')}</td><td>${fmt(e.canary)}</td><td>${fmt(e.control)}</td><td>${esc(e.test)}</td><td>${fmt(e.pValue)}</td><td>${fmt(e.harm)}</td><td>${fmt(e.threshold)}</td><td>${e.samples.canary} / ${e.samples.control}</td><td>${esc(e.detail)}</td></tr>`,
    )
    .join('');
  const reasons = Array.isArray(v.reasons) ? v.reasons.filter((x): x is string => typeof x === 'string') : [];
  return `${head}
    <p>Verdict ${pill(verdict ?? 'unknown')} at ${esc(localTime(String(v.at ?? '')))}${reasons.length ? `: ${reasons.map(esc).join('; ')}` : ''}</p>
    ${bars}
    <table><thead><tr><th>metric</th><th>outcome</th><th>canary</th><th>control</th><th>test</th><th>p</th><th>harm</th><th>threshold</th><th>samples c/c</th><th>detail</th></tr></thead><tbody>${rows}</tbody></table>
    ${srmLine(v.srm)}${shadowLine(r)}`;
}

const sideText = (s: DriftSide | undefined) => (s ? `${s.observations} obs / ${s.devices} dev` : '–');

/**
 * Each version's drift with its sample sizes: "insufficient" below the
 * minimum on either side, whatever the PSI says (one device's histogram is
 * not evidence).
 * @example
 * el.innerHTML = driftFlags(await getAdmin('/v1/admin/models/digits/drift'));
 */
export function driftFlags(d: DriftView): string {
  if (d.referenceVersion === null)
    return `<p class="muted">${esc(d.app)}: no production version to measure drift against.</p>`;
  if (d.versions.length === 0)
    return `<p class="muted">${esc(d.app)}: no feature summaries from non-production versions yet (reference v${d.referenceVersion}).</p>`;
  const rows = d.versions
    .map((v) => {
      const worst = Object.entries(v.psi)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5);
      const status = v.status ?? (v.drifted.length > 0 ? 'drift' : 'pass');
      const flag =
        status === 'insufficient'
          ? `${pill('insufficient')} too few samples to judge`
          : status === 'drift'
            ? `${pill('fail')} ${v.drifted.length} feature(s) drifted`
            : `${pill('pass')} no drift`;
      return `<tr data-drift-version="${v.version}" data-drift-status="${status}"><td>v${v.version}</td><td>${flag}</td><td>${sideText(v.samples?.version)}</td><td>${sideText(v.samples?.reference)}</td><td>${worst.map(([k, psi]) => `${esc(k)} ${fmt(psi)}`).join(', ')}</td></tr>`;
    })
    .join('');
  const minimum =
    d.minSamples === undefined ? '' : `; judged from ${d.minSamples} observations and ${d.minDevices} devices per side`;
  return `<h3>${esc(d.app)}: drift vs v${d.referenceVersion} <span class="muted">(PSI &gt; ${d.threshold} flags${minimum})</span></h3><table><thead><tr><th>version</th><th>flag</th><th>samples (version)</th><th>samples (v${d.referenceVersion})</th><th>highest PSI</th></tr></thead><tbody>${rows}</tbody></table>`;
}
