/**
 * One secure-aggregation round of the simulator, driven as its operator
 * would see it. Every chosen device takes its turn through the SDK's round
 * loop (check in, train, then the SecAgg+ phases in its runner); a device
 * told to drop out leaves at its phase (simulated-device.ts).
 *
 * The coordinator closes a phase early only when every device it waits for
 * has sent; otherwise at the phase's deadline in the signed configuration
 * (60/70/85/100% of the round's window, minutes away). A phase that waits
 * only for devices that left would sit idle until then, so the driver closes
 * it through the admin API (`POST /v1/admin/rounds/:id/close`, which on a
 * secure round closes the phase in progress), exactly what the deadline
 * would do, only sooner. Nothing else is closed by hand: the round itself
 * closes when unmasking completes (the coordinator publishes the new
 * version then), or fails when too few devices are left (`too_few_survivors`,
 * `too_few_neighbours`), and the driver reads the outcome, with the
 * coordinator's per-phase counts and the epsilon its DDG accountant charged,
 * from the round's admin view.
 */
import type { RoundView, SecAggPhase, SecAggRoundStats } from '../shared/protocol/index.ts';
import { type Admin, closeSecAggPhase, roundViewOf } from './simulation-admin.ts';
import { SECAGG_SEND_PHASES, type DeviceTurn, type SecAggSendPhase, type SecureTurn } from './simulated-device.ts';
import { SimulationTargetError } from './simulation-target.ts';

/** What the simulator records of a secure round. */
export interface SecureRoundRecord {
  roundId: string | null;
  /** The coordinator's own counts: devices per phase, the phase it ended in, why it aborted, epsilon charged. */
  stats: SecAggRoundStats | null;
  /** The coordinator's reason when the round failed. */
  failureReason: string | null;
  /** Devices the simulator made leave, by the phase they left at. */
  droppedAt: Record<SecAggSendPhase, number>;
  /** Phases the driver closed because they waited only for devices that had left. */
  closedEarly: SecAggSendPhase[];
}

export interface SecureRoundInput {
  admin: Admin;
  taskId: string;
  chosen: number[];
  /** Per chosen device, the phase it leaves at (null: it stays). */
  dropAt: Array<SecAggSendPhase | null>;
  turn(client: number, secure: SecureTurn): Promise<DeviceTurn>;
  /** How often the driver looks for a phase to close (ms; default 50). */
  tickMs?: number;
}

const PHASE_ORDER: readonly SecAggPhase[] = ['advertise', 'share', 'mask', 'unmask', 'done', 'aborted'];
const SETTLE_LIMIT_MS = 10 * 60_000;
// After every device's turn ended, a round still open is given this long before its phase is closed by hand.
const STALL_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @example
 * const { turns, round, record } = await runSecureSimulationRound({ admin, taskId, chosen: [3, 7, 9], dropAt: [null, 'mask', null], turn });
 * record.stats // { phase: 'done', selected: 3, advertised: 3, shared: 3, masked: 2, unmasked: 2, ... }
 */
export async function runSecureSimulationRound(
  o: SecureRoundInput,
): Promise<{ turns: Array<{ client: number } & DeviceTurn>; round: RoundView | null; record: SecureRoundRecord }> {
  const sent = new Map(SECAGG_SEND_PHASES.map((p) => [p, new Set<number>()]));
  const gone = new Set<number>();
  const closedEarly: SecAggSendPhase[] = [];
  // Phases no longer in progress: closed here, or seen to have moved on by themselves.
  const done = new Set<SecAggSendPhase>();
  let roundId: string | null = null;
  let wake: () => void = () => {};
  const changed = () => wake();

  const turns = o.chosen.map((client, i) =>
    o
      .turn(client, {
        dropAt: o.dropAt[i],
        onSent: (phase, id) => {
          roundId ??= id;
          sent.get(phase)?.add(client);
          changed();
        },
        onDropped: () => {
          gone.add(client);
          changed();
        },
      })
      .then((turn) => {
        if (turn.outcome.status !== 'uploaded') gone.add(client);
        if ('roundId' in turn.outcome) roundId ??= turn.outcome.roundId;
        changed();
        return { client, ...turn };
      }),
  );
  let settled = false;
  const all = Promise.all(turns).finally(() => {
    settled = true;
    changed();
  });
  all.catch(() => undefined); // awaited below; a failure must not go unhandled while the loop runs

  /**
   * The phase in progress when it waits only for devices that left, else null.
   * As the coordinator counts, a phase waits for the senders of the one before
   * (advertise: every device selected).
   */
  const phaseWaitingOnlyForGone = (): SecAggSendPhase | null => {
    let waitedOn = o.chosen;
    for (const phase of SECAGG_SEND_PHASES) {
      const senders = sent.get(phase) ?? new Set<number>();
      const missing = waitedOn.filter((c) => !senders.has(c));
      waitedOn = waitedOn.filter((c) => senders.has(c));
      if (missing.length === 0 || done.has(phase)) continue;
      return missing.every((c) => gone.has(c)) ? phase : null;
    }
    return null;
  };

  while (!settled) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.tickMs ?? 50);
      wake = () => (clearTimeout(timer), resolve());
    });
    const due = phaseWaitingOnlyForGone();
    if (due === null || settled) continue;
    const view = await currentRound(o.admin, o.taskId, roundId);
    const phase = view?.secureAggregation?.phase;
    if (!view || !phase) continue;
    roundId ??= view.id;
    if (PHASE_ORDER.indexOf(phase) > PHASE_ORDER.indexOf(due))
      closedEarly.push(due); // it moved on by itself
    else if (phase === due && view.state === 'open') {
      await closeSecAggPhase(o.admin, view.id);
      closedEarly.push(due);
    }
  }
  const turnsDone = await all;
  const round = roundId === null ? null : await finalRound(o.admin, o.taskId, roundId);
  const droppedAt = Object.fromEntries(SECAGG_SEND_PHASES.map((p) => [p, 0])) as Record<SecAggSendPhase, number>;
  for (const phase of o.dropAt) if (phase !== null) droppedAt[phase]++;
  return {
    turns: turnsDone,
    round,
    record: {
      roundId,
      stats: round?.secureAggregation ?? null,
      failureReason: round?.failureReason ?? null,
      droppedAt,
      closedEarly,
    },
  };
}

/** The task's open round (the one its devices are in). */
async function currentRound(admin: Admin, taskId: string, roundId: string | null): Promise<RoundView | null> {
  if (roundId !== null) return roundViewOf(admin, taskId, roundId);
  const task = await admin.answer(admin.api.v1.admin.tasks[':id'].$get({ param: { id: taskId } }));
  return task.currentRound;
}

/**
 * Waits for the round to close (unmasked and published) or fail; one still
 * open after every device's turn ended has its phase closed, as its deadline would.
 */
async function finalRound(admin: Admin, taskId: string, roundId: string): Promise<RoundView> {
  const started = Date.now();
  let quietSince = Date.now();
  let view = await roundViewOf(admin, taskId, roundId);
  while (!view || view.state === 'open' || view.state === 'aggregating') {
    if (Date.now() - started > SETTLE_LIMIT_MS)
      throw new SimulationTargetError(`secure round ${roundId} neither closed nor failed within 10 min`);
    await sleep(100);
    view = await roundViewOf(admin, taskId, roundId);
    if (view?.state === 'open' && Date.now() - quietSince > STALL_MS) {
      view = await closeSecAggPhase(admin, roundId);
      quietSince = Date.now();
    }
  }
  return view;
}
