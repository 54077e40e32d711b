/**
 * A secure-aggregation round in the dashboard's round table: devices left at
 * each phase (selected, advertised keys, shared keys, sent a masked input,
 * helped unmask), why the round aborted, and the epsilon the DDG accountant
 * charged for it. Plain rounds get no such columns.
 */
import type { SecAggRoundStats } from '../../../shared/protocol/index.ts';
import { escapeXml as esc } from './svg-chart.ts';

export const SECURE_AGGREGATION_HEADERS = ['secure aggregation (sel → adv → shr → msk → unm)', 'abort', 'round ε'];

const ABORT_TEXT: Record<NonNullable<SecAggRoundStats['abortReason']>, string> = {
  too_few_survivors: 'too few survivors',
  too_few_neighbours: 'too few live neighbours',
  coordinator_restarted: 'coordinator restarted',
  task_stopped: 'task stopped',
  unmask_failed: 'unmasking failed',
};

/**
 * @example
 * secureAggregationCells({ phase: 'aborted', selected: 10, advertised: 9, shared: 9, masked: 6, unmasked: 0,
 *   abortReason: 'too_few_survivors', epsilonSpent: null })
 * // ['<td …>10 → 9 → 9 → 6 → 0 <span class="muted">aborted</span></td>', '<td>too few survivors</td>', '<td>–</td>']
 */
export function secureAggregationCells(stats: SecAggRoundStats | null | undefined): string[] {
  if (!stats) return ['<td class="muted">–</td>', '<td></td>', '<td>–</td>'];
  const { selected, advertised, shared, masked, unmasked } = stats;
  const counts = [selected, advertised, shared, masked, unmasked].join(' → ');
  const title = `selected ${selected}, advertised keys ${advertised}, shared keys ${shared}, masked input ${masked}, unmasked ${unmasked}`;
  return [
    `<td title="${esc(title)}">${counts} <span class="muted">${esc(stats.phase)}</span></td>`,
    `<td>${stats.abortReason ? esc(ABORT_TEXT[stats.abortReason] ?? stats.abortReason) : ''}</td>`,
    `<td>${stats.epsilonSpent === null ? '–' : Number(stats.epsilonSpent.toFixed(3)).toString()}</td>`,
  ];
}
