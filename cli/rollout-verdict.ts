/**
 * A rollout's latest verdict as terminal lines for `flock rollout show`: what
 * the rollout does next and why ("wait: 5 of 50 canary devices exposed"),
 * exposure per cohort against the stage's assignment, and per metric its
 * outcome with what it waits for or why it failed. Until this, the action and
 * the exposure counts were only in `--json`.
 *
 * @example
 * lines.push(...describeVerdict(rollout.lastVerdict));
 */
import { RolloutVerdictSchema, type RolloutVerdict } from '../shared/protocol/rollouts.ts';

const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
const p = (x: number | null) =>
  x === null ? '-' : Math.abs(x) >= 0.001 || x === 0 ? x.toFixed(3) : x.toExponential(1);

/** The action as a sentence: "wait: <why>", "advance to stage 2", "promote to production", "roll back: <why>", "halt: <why>". */
export function describeAction(action: RolloutVerdict['action']): string {
  switch (action.kind) {
    case 'wait':
      return `wait: ${action.reason}`;
    case 'advance':
      return `advance to stage ${action.toStageIndex + 1}`;
    case 'promote':
      return 'promote the candidate to production';
    case 'rollback':
      return `roll back: ${action.reason}`;
    case 'halt':
      return `halt: ${action.reason}`;
  }
}

function exposure(v: RolloutVerdict): string {
  const s = v.srm;
  if (!s)
    return v.percent >= 100 ? 'not compared at a 100% stage' : 'too few devices exposed yet for the sample-ratio check';
  const verdict = s.mismatch ? 'MISMATCH' : 'matches';
  return `${s.canaryExposed} canary / ${s.controlExposed} control devices; expected canary share ${pct(s.expectedCanaryShare)}, observed ${pct(s.observedCanaryShare)}: ${verdict} (p ${p(s.pValue)})`;
}

/**
 * Lines describing `raw` (a rollout view's `lastVerdict`); none for null. A
 * record this CLI cannot read (a newer or older coordinator) is shown by its
 * verdict and reasons, with a pointer to `--json`.
 */
export function describeVerdict(raw: unknown): string[] {
  if (raw === null || raw === undefined)
    return ['verdict     none yet (the first evaluation runs within seconds of the start)'];
  const parsed = RolloutVerdictSchema.safeParse(raw);
  if (!parsed.success) {
    const loose = raw as { verdict?: unknown; reasons?: unknown };
    const reasons = Array.isArray(loose.reasons) ? loose.reasons.map((r) => `  - ${String(r)}`) : [];
    return [
      `verdict     ${String(loose.verdict ?? 'unreadable')} (this CLI cannot read the whole record; see --json)`,
      ...reasons,
    ];
  }
  const v = parsed.data;
  const lines = [
    `verdict     ${v.verdict} at ${v.at} (stage ${v.stageIndex + 1} at ${v.percent}%)`,
    `next        ${describeAction(v.action)}`,
    `exposure    ${exposure(v)}`,
  ];
  for (const m of v.metrics) {
    const samples =
      m.outcome === 'insufficient' ? '' : ` [${m.samples.canary} canary / ${m.samples.control} control samples]`;
    lines.push(`  ${m.metric.padEnd(11)} ${m.outcome.padEnd(12)} ${m.detail}${samples}`);
  }
  for (const reason of v.reasons) lines.push(`  - ${reason}`);
  return lines;
}
