/**
 * The audit log on the dashboard: filters (action, actor, target, since)
 * from the form in demo/dashboard/index.html, entries newest first with the
 * reason an operator gave, paged back by the coordinator's `beforeId` cursor.
 * The first page follows the live refresh; an older page stays put.
 */
import { AUDIT_PAGE, loadAudit, type AuditEntry, type AuditFilters } from './admin-api.ts';
import { localTime } from './local-time.ts';
import { escapeXml as esc } from './svg-chart.ts';

/** Pure: entries -> table rows, the reason in its own column. */
export function auditTable(entries: AuditEntry[]): string {
  if (entries.length === 0) return '<p class="muted">No audit entries match.</p>';
  const rows = entries
    .map((e) => {
      const { reason, ...rest } = e.details;
      const more = Object.keys(rest).length ? JSON.stringify(rest) : '';
      return `<tr data-audit-id="${e.id}" data-audit-action="${esc(e.action)}"><td class="at">${esc(localTime(e.at))}</td><td>${esc(e.action)}</td><td>${esc(e.actor)}</td><td class="target">${esc(e.target ?? '')}</td><td class="reason">${esc(typeof reason === 'string' ? reason : '')}</td><td class="details" title="${esc(more)}">${esc(more.length > 120 ? `${more.slice(0, 117)}...` : more)}</td></tr>`;
    })
    .join('');
  return `<table><thead><tr><th>at</th><th>action</th><th>actor</th><th>target</th><th>reason</th><th>details</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** The `since` input is local time (datetime-local); the API takes an instant with an offset. */
export function sinceOf(local: string): string | undefined {
  if (!local) return undefined;
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the dashboard lacks #${id}`);
  return el as T;
};

/**
 * @example
 * const audit = new AuditPanel();
 * await audit.refresh(); // on every live tick
 */
export class AuditPanel {
  /** Cursors of the pages shown so far; empty: the newest page. */
  private cursors: number[] = [];
  private next: number | null = null;

  constructor() {
    $('audit-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.cursors = [];
      void this.refresh(true);
    });
    $('audit-clear').addEventListener('click', () => {
      ($('audit-form') as HTMLFormElement).reset();
      this.cursors = [];
      void this.refresh(true);
    });
    $('audit-older').addEventListener('click', () => {
      if (this.next === null) return;
      this.cursors.push(this.next);
      void this.refresh(true);
    });
    $('audit-newer').addEventListener('click', () => {
      this.cursors.pop();
      void this.refresh(true);
    });
  }

  /** Show a target's entries (a rollout's "audit log" button). */
  showTarget(target: string): void {
    ($('audit-form') as HTMLFormElement).reset();
    $<HTMLInputElement>('audit-target').value = target;
    this.cursors = [];
    void this.refresh(true);
    $('audit-card').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  filters(): AuditFilters {
    const v = (id: string) => $<HTMLInputElement>(id).value.trim() || undefined;
    return {
      action: v('audit-action'),
      actor: v('audit-actor'),
      target: v('audit-target'),
      since: sinceOf($<HTMLInputElement>('audit-since').value),
    };
  }

  /** Reload the page shown; a live tick (`force` false) only reloads the newest page. */
  async refresh(force = false): Promise<void> {
    if (!force && this.cursors.length > 0) return;
    const beforeId = this.cursors.at(-1);
    try {
      const page = await loadAudit(this.filters(), beforeId);
      this.next = page.nextBeforeId;
      $('audit-entries').innerHTML = auditTable(page.entries);
      const first = this.cursors.length * AUDIT_PAGE + 1;
      $('audit-page').textContent = page.entries.length
        ? `entries ${first}-${first + page.entries.length - 1}, newest first`
        : '';
      $<HTMLButtonElement>('audit-older').disabled = this.next === null;
      $<HTMLButtonElement>('audit-newer').disabled = this.cursors.length === 0;
    } catch (error) {
      $('audit-entries').innerHTML =
        `<p class="error">Could not read the audit log: ${esc(error instanceof Error ? error.message : String(error))}</p>`;
    }
  }
}
