/**
 * The dashboard's pure pieces for operating: which actions a status allows,
 * what a confirmation says, the audit table's reason column, the device
 * census bars, the app picker's default.
 */
import { describe, expect, it } from 'vitest';
import { defaultApp } from './app-picker.ts';
import { auditTable, sinceOf } from './audit-panel.ts';
import { devicePanel } from './device-panel.ts';
import { localTime } from './local-time.ts';
import { rolloutActionBar, rolloutActionsFor, taskActionBar } from './operator-actions.ts';
import { SECURE_AGGREGATION_HEADERS, secureAggregationCells } from './secure-aggregation-cells.ts';

describe('operator actions', () => {
  it('offers only what the coordinator accepts in each status', () => {
    expect(rolloutActionsFor('running')).toEqual(['pause', 'promote', 'abort']);
    expect(rolloutActionsFor('halted')).toEqual(['resume', 'promote', 'abort']);
    for (const ended of ['completed', 'rolled_back', 'aborted']) expect(rolloutActionsFor(ended)).toEqual([]);
  });

  it('says in the confirmation which version everyone lands on, escaped', () => {
    const html = rolloutActionBar({
      id: 'ro_"1',
      app: 'digits',
      status: 'running',
      candidateVersion: 4,
      controlVersion: 3,
    });
    expect(html).toMatch(
      /data-action="abort" data-title="Abort the rollout of digits v4\?" data-detail="Every device goes back to v3;/,
    );
    expect(html).toContain('data-id="ro_&quot;1"');
    expect(html).not.toContain('data-action="resume"');
    expect(taskActionBar({ id: 't1', name: null, status: 'completed' })).toBe('');
    expect(taskActionBar({ id: 't1', name: null, status: 'paused' })).toContain('data-action="resume"');
  });
});

describe('audit table', () => {
  it('puts the reason in its own column and the rest in details', () => {
    const html = auditTable([
      {
        id: 7,
        at: '2026-01-02T03:04:05Z',
        actor: 'admin:k',
        action: 'rollout.resume',
        target: 'ro_1',
        details: { from: 'paused', reason: 'ok <now>' },
      },
    ]);
    expect(html).toContain('<td class="reason">ok &lt;now&gt;</td>');
    expect(html).toContain('{&quot;from&quot;:&quot;paused&quot;}');
    expect(auditTable([])).toContain('No audit entries match');
  });

  it('turns the local since input into an instant, and ignores garbage', () => {
    expect(sinceOf('')).toBeUndefined();
    expect(sinceOf('not a date')).toBeUndefined();
    expect(sinceOf('2026-01-02T03:04:05')).toBe(new Date(2026, 0, 2, 3, 4, 5).toISOString());
    expect(localTime(new Date(2026, 0, 2, 3, 4, 5).toISOString())).toBe('2026-01-02 03:04:05');
  });
});

describe('device panel', () => {
  it('draws each count as a share of the whole fleet', () => {
    const html = devicePanel([], {
      devices: 4,
      byBackend: { wasm: 3, webgpu: 1 },
      byVersion: { 2: 1, 1: 2, none: 1 },
      byLastSeen: { 'under 5 min': 4, older: 0 },
      truncated: false,
    });
    expect(html).toMatch(/data-count="backend:wasm">.*width:75\.0%.*<span class="count-n">3</);
    // Versions newest first, devices without telemetry last.
    expect(html.indexOf('>v2<')).toBeLessThan(html.indexOf('>v1<'));
    expect(html.indexOf('>v1<')).toBeLessThan(html.indexOf('no telemetry'));
    expect(devicePanel([], { devices: 0, byBackend: {}, byVersion: {}, byLastSeen: {}, truncated: false })).toContain(
      'No devices',
    );
  });
});

describe('app picker', () => {
  it('keeps the wanted app if it exists, else digits, else the first', () => {
    expect(defaultApp(['a', 'digits'], 'a')).toBe('a');
    expect(defaultApp(['a', 'digits'], 'gone')).toBe('digits');
    expect(defaultApp(['b', 'a'], null)).toBe('b');
    expect(defaultApp([], 'x')).toBeNull();
  });
});

describe('secure-aggregation round cells', () => {
  it('show survivors per phase, the abort reason in words and the round epsilon; a plain round gets dashes', () => {
    const aborted = secureAggregationCells({
      phase: 'aborted',
      selected: 10,
      advertised: 9,
      shared: 9,
      masked: 6,
      unmasked: 0,
      abortReason: 'too_few_survivors',
      epsilonSpent: null,
    });
    expect(aborted[0]).toContain('10 → 9 → 9 → 6 → 0');
    expect(aborted[0]).toContain('masked input 6');
    expect(aborted.slice(1)).toEqual(['<td>too few survivors</td>', '<td>–</td>']);
    const done = secureAggregationCells({
      phase: 'done',
      selected: 3,
      advertised: 3,
      shared: 3,
      masked: 3,
      unmasked: 3,
      abortReason: null,
      epsilonSpent: 0.41234,
    });
    expect(done.slice(1)).toEqual(['<td></td>', '<td>0.412</td>']);
    expect(secureAggregationCells(null)).toHaveLength(SECURE_AGGREGATION_HEADERS.length);
  });
});
