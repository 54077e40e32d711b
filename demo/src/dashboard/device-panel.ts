/**
 * The devices card: the census of the whole app's fleet (counts by backend,
 * by the version devices last reported, by last seen) as small bar lists,
 * then the newest-registered rows. Pure: view data in, HTML out.
 */
import type { DeviceCensus } from './admin-api.ts';
import { localTime } from './local-time.ts';
import { escapeXml as esc } from './svg-chart.ts';

function countList(
  title: string,
  counts: Record<string, number>,
  total: number,
  keyLabel: (k: string) => string,
  order?: string[],
): string {
  const keys = order ?? Object.keys(counts).sort((a, b) => counts[b] - counts[a]);
  const rows = keys
    .map((k) => {
      const n = counts[k] ?? 0;
      const pct = total > 0 ? (100 * n) / total : 0;
      return `<li data-count="${esc(title)}:${esc(k)}"><span class="count-label">${esc(keyLabel(k))}</span><span class="count-bar"><span style="width:${pct.toFixed(1)}%"></span></span><span class="count-n">${n}</span></li>`;
    })
    .join('');
  return `<div class="counts"><h4>${esc(title)}</h4><ul>${rows}</ul></div>`;
}

const text = (v: unknown) => esc(typeof v === 'string' || typeof v === 'number' ? String(v) : '');

/**
 * @example
 * el.innerHTML = devicePanel(data.devices, data.census);
 */
export function devicePanel(devices: Record<string, unknown>[], census: DeviceCensus | null): string {
  const total = census?.devices ?? devices.length;
  if (total === 0)
    return '<p class="muted">No devices registered for this app yet. Open the Digits demo to add one.</p>';
  const counts = census
    ? `<div class="census">${countList('backend', census.byBackend, total, (k) => k)}${countList(
        'version (last reported, 24 h)',
        census.byVersion,
        total,
        (k) => (k === 'none' ? 'no telemetry' : `v${k}`),
        Object.keys(census.byVersion).sort((a, b) => (a === 'none' ? 1 : b === 'none' ? -1 : Number(b) - Number(a))),
      )}${countList('last seen', census.byLastSeen, total, (k) => k, Object.keys(census.byLastSeen))}</div>${census.truncated ? '<p class="muted">Telemetry was read up to its cap: some versions may be older than shown.</p>' : ''}`
    : '';
  const rows = devices
    .map((d) => {
      const platform = (d.platform ?? {}) as Record<string, unknown>;
      const caps = (d.capabilities ?? {}) as Record<string, unknown>;
      const seen = typeof d.lastSeenAt === 'string' ? localTime(d.lastSeenAt) : '';
      return `<tr><td>${text(d.deviceId)}</td><td>${text(platform.runtime)}</td><td>${text(caps.backend)}</td><td>${esc(seen)}</td></tr>`;
    })
    .join('');
  const listed = devices.length < total ? `the first ${devices.length} registered` : `all ${devices.length}`;
  // The rows fold away: the counts answer "what does the fleet look like", the rows only "which device".
  return `<p><strong data-device-total>${total}</strong> device(s)</p>${counts}<details><summary>Devices, ${listed}</summary><table><thead><tr><th>device</th><th>runtime</th><th>registered backend</th><th>last seen</th></tr></thead><tbody>${rows}</tbody></table></details>`;
}
