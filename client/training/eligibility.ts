/**
 * When a device may train: the default policy of the issue (page hidden or the
 * user idle, charging and unmetered where the browser can tell) as a pure
 * judgement over signals, plus the code that reads those signals in a page.
 * The policy is injectable (`train.eligibility`) so an app or a test can
 * decide for itself; "enough examples" is checked by the round loop against
 * the task plan, not here, because only the coordinator's plan knows the bar.
 */

/** What the browser tells about the device right now; `undefined` = the API does not exist here. */
export interface DeviceSignals {
  visibility: 'visible' | 'hidden' | undefined;
  /** Milliseconds since the last pointer/key/touch input in this page. */
  idleMs: number;
  charging: boolean | undefined;
  /** `navigator.connection.saveData`, or a cellular connection type. */
  metered: boolean | undefined;
  online: boolean | undefined;
}

export type EligibilityVerdict = { eligible: true } | { eligible: false; reason: string };

/**
 * Decides whether this device may train now; called before every check-in.
 *
 * @example
 * connect({ ..., train: { tasks: ['task_1'], eligibility: () => ({ eligible: true }) } }); // always
 */
export type EligibilityPolicy = () => EligibilityVerdict | boolean | Promise<EligibilityVerdict | boolean>;

/** Idle after this long without input (default policy). */
export const DEFAULT_IDLE_AFTER_MS = 60_000;

/**
 * The default judgement: the page is hidden or the user idle, and — only where
 * the browser exposes them — the battery is charging and the network is not
 * metered. Missing APIs do not make a device ineligible (Safari and Firefox
 * expose neither).
 *
 * @example
 * judgeEligibility({ visibility: 'hidden', idleMs: 0, charging: true, metered: false, online: true }) // { eligible: true }
 */
export function judgeEligibility(s: DeviceSignals, idleAfterMs = DEFAULT_IDLE_AFTER_MS): EligibilityVerdict {
  if (s.online === false) return { eligible: false, reason: 'offline' };
  if (s.visibility !== 'hidden' && s.idleMs < idleAfterMs)
    return { eligible: false, reason: 'page visible and in use' };
  if (s.charging === false) return { eligible: false, reason: 'on battery' };
  if (s.metered === true) return { eligible: false, reason: 'metered network' };
  return { eligible: true };
}

interface BatteryLike {
  charging: boolean;
}
interface NavigatorSignals {
  onLine?: boolean;
  getBattery?: () => Promise<BatteryLike>;
  connection?: { saveData?: boolean; type?: string };
}

/**
 * Reads `DeviceSignals` in a page or worker, tracking user input to measure
 * idleness. `stop()` removes the listeners.
 *
 * @example
 * const signals = watchDeviceSignals();
 * judgeEligibility(await signals.read());
 */
export function watchDeviceSignals(now: () => number = () => Date.now()): {
  read(): Promise<DeviceSignals>;
  stop(): void;
} {
  let lastInput = now();
  const onInput = () => {
    lastInput = now();
  };
  const inputs = ['pointerdown', 'keydown', 'touchstart', 'wheel'] as const;
  for (const type of inputs) globalThis.addEventListener?.(type, onInput, { passive: true, capture: true });
  const nav = (globalThis.navigator ?? {}) as NavigatorSignals;
  return {
    async read() {
      let charging: boolean | undefined;
      try {
        charging = nav.getBattery ? (await nav.getBattery()).charging : undefined;
      } catch {
        charging = undefined; // blocked by permissions policy: treat as unknown
      }
      const connection = nav.connection;
      const metered =
        connection === undefined ? undefined : connection.saveData === true || connection.type === 'cellular';
      const doc = (globalThis as { document?: { visibilityState?: string } }).document;
      const visibility =
        doc?.visibilityState === 'hidden' ? 'hidden' : doc?.visibilityState === 'visible' ? 'visible' : undefined;
      return { visibility, idleMs: now() - lastInput, charging, metered, online: nav.onLine };
    },
    stop() {
      for (const type of inputs) globalThis.removeEventListener?.(type, onInput, { capture: true });
    },
  };
}

/** Normalizes a policy's answer. */
export async function askPolicy(policy: EligibilityPolicy): Promise<EligibilityVerdict> {
  const answer = await policy();
  if (answer === true) return { eligible: true };
  if (answer === false) return { eligible: false, reason: 'the eligibility policy said no' };
  return answer;
}
