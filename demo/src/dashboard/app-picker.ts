/**
 * One app at a time: a picker of the coordinator's apps, with simulator apps
 * (`sim`, `sim-<hex>`, left behind by `flock simulate`) hidden unless the
 * operator asks. The choice lives in the URL (`?app=digits&sim=1`) so a
 * link or a reload shows the same app.
 */
import { loadApps } from './admin-api.ts';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the dashboard lacks #${id}`);
  return el as T;
};

/** The app shown when the URL names none: digits (the seeded demo) if present, else the first. */
export function defaultApp(apps: string[], wanted: string | null): string | null {
  if (wanted && apps.includes(wanted)) return wanted;
  if (apps.includes('digits')) return 'digits';
  return apps[0] ?? null;
}

/**
 * @example
 * const picker = new AppPicker(() => void refresh());
 * await picker.load(); picker.app; // 'digits'
 */
export class AppPicker {
  app: string | null = null;

  constructor(private readonly changed: () => void) {
    const params = new URLSearchParams(location.search);
    this.app = params.get('app');
    $<HTMLInputElement>('show-sim').checked = params.get('sim') === '1';
    $('app').addEventListener('change', () => {
      this.app = $<HTMLSelectElement>('app').value || null;
      this.remember();
      this.changed();
    });
    $('show-sim').addEventListener('change', () => {
      this.remember();
      void this.load().then(this.changed);
    });
  }

  private remember(): void {
    const params = new URLSearchParams(location.search);
    if (this.app) params.set('app', this.app);
    else params.delete('app');
    if ($<HTMLInputElement>('show-sim').checked) params.set('sim', '1');
    else params.delete('sim');
    history.replaceState(null, '', `${location.pathname}?${params}`);
  }

  /** Re-read the app list (apps come and go) and keep the selection when it still exists. */
  async load(): Promise<void> {
    const simulators = $<HTMLInputElement>('show-sim').checked;
    const { apps, hiddenSimulators } = await loadApps(simulators);
    const select = $<HTMLSelectElement>('app');
    const current = [...select.options].map((o) => o.value);
    if (current.join('\n') !== apps.join('\n')) {
      select.replaceChildren(...apps.map((a) => new Option(a, a)));
    }
    this.app = defaultApp(apps, this.app);
    if (this.app) select.value = this.app;
    $('sim-count').textContent = simulators ? '' : hiddenSimulators ? `(${hiddenSimulators} hidden)` : '(none)';
    this.remember();
  }
}
