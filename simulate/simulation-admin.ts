/**
 * The simulator's operator side: the typed admin client on the target (a
 * failure names the request and the coordinator's answer) and the close of a
 * round, which for a plain round aggregates and for a secure-aggregation
 * round closes the phase in progress (coordinator/rounds/service.ts).
 */
import type { RoundView } from '../shared/protocol/index.ts';
import { AdminApiError, adminAnswer, adminClient, type AdminResponse } from '../coordinator/admin-client.ts';
import { SimulationTargetError, type SimulationTarget } from './simulation-target.ts';

export const ROUND_SETTLE_TIMEOUT_MS = 10 * 60_000;

/** The typed admin client on the target; a failure names the request and the coordinator's answer. */
export function adminOf(target: SimulationTarget) {
  let sent = '';
  const api = adminClient({
    baseUrl: target.baseUrl,
    adminKey: target.adminKey,
    // A manual close aggregates before it answers; a large round takes a while.
    timeoutMs: ROUND_SETTLE_TIMEOUT_MS,
    fetch: (url, init) => {
      sent = `${init?.method ?? 'GET'} ${url.slice(target.baseUrl.length)}`;
      return target.fetch(url, init);
    },
  });
  const answer = <R extends AdminResponse>(pending: Promise<R>) =>
    adminAnswer(pending).catch((error: unknown) => {
      if (!(error instanceof AdminApiError)) throw error;
      throw new SimulationTargetError(
        error.status === null
          ? `${sent} failed: ${error.message}`
          : `${sent} answered ${error.status}: ${error.code}: ${error.message}`,
        { cause: error },
      );
    });
  return { api, answer };
}
export type Admin = ReturnType<typeof adminOf>;

/** The round as the admin API lists it now. */
export async function roundViewOf({ api, answer }: Admin, taskId: string, roundId: string): Promise<RoundView | null> {
  const { rounds } = await answer(api.v1.admin.tasks[':id'].rounds.$get({ param: { id: taskId } }));
  return rounds.find((r) => r.id === roundId) ?? null;
}

/** Waits until the round is closed or failed, from `round` as last seen. */
export async function settledRound(admin: Admin, taskId: string, round: RoundView): Promise<RoundView> {
  const until = Date.now() + ROUND_SETTLE_TIMEOUT_MS;
  while (round.state === 'open' || round.state === 'aggregating') {
    if (Date.now() > until)
      throw new SimulationTargetError(
        `round ${round.id} was still ${round.state} after ${ROUND_SETTLE_TIMEOUT_MS / 60_000} min`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
    round = (await roundViewOf(admin, taskId, round.id)) ?? round;
  }
  return round;
}

/**
 * Ends a plain round through the admin API and waits until it is closed or
 * failed: a quorum close already under way (here or, with several
 * coordinator processes, elsewhere) answers 'aggregating' first.
 */
export async function closeRound(admin: Admin, taskId: string, roundId: string): Promise<RoundView> {
  const { api, answer } = admin;
  const round: RoundView = await answer(api.v1.admin.rounds[':id'].close.$post({ param: { id: roundId } }));
  return settledRound(admin, taskId, round);
}

/** Closes the phase in progress of a secure-aggregation round (what its deadline would do). */
export async function closeSecAggPhase({ api, answer }: Admin, roundId: string): Promise<RoundView> {
  return answer(api.v1.admin.rounds[':id'].close.$post({ param: { id: roundId } }));
}
