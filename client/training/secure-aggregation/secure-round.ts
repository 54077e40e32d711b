/**
 * The page's side of a secure-aggregation round: the phase driver. It checks
 * the signed round configuration, has the runner (the training worker, or
 * in-process in Node) train and keep the update, then carries each phase's
 * messages between the runner and the coordinator through FlockTransport:
 *
 *   advertise keys -> roster -> share keys -> forwarded shares
 *   -> masked input -> unmasking request -> unmask response
 *
 * A GET that answers `waiting` is asked again after retryAfterSeconds (never
 * earlier, up to 20% later), until that phase's signed deadline. `aborted`
 * stops the round with SecAggError('round-aborted', details.reason); so does
 * any refusal of the configuration, the roster, the shares or the request:
 * the device then sends nothing more for the round, and the runner forgets it.
 * The plain update upload is never used for such a round.
 *
 * @example
 * const outcome = await runSecureRound({ selected, deviceId, job, runner, transport, trustedPublicKey });
 * outcome.phaseMs.mask; // ms the runner spent encoding and masking
 */
import type { CheckInSelected, SecAggAborted, SecAggAccepted } from '../../../shared/protocol/index.ts';
import { ForwardedSharesSchema, RosterSchema, UnmaskRequestSchema } from '../../../shared/secagg/messages.ts';
import { SecAggError } from '../../../shared/secagg/secagg-error.ts';
import type { FlockTransport } from '../../federated/transport.ts';
import type { TrainingJob } from '../training-api.ts';
import type { TrainingRunner } from '../training-runner.ts';
import { checkSignedRoundConfig } from './round-config-check.ts';
import type { SecureTrainingSummary } from './worker-rounds.ts';

export type SecureRoundPhase = 'train' | 'advertise' | 'share' | 'mask' | 'unmask';

export interface SecureRoundOptions {
  /** The check-in answer that selected this device; carries the signed configuration. */
  selected: CheckInSelected;
  deviceId: string;
  /** The round's training job (global weights downloaded and verified, examples). */
  job: TrainingJob;
  runner: Pick<TrainingRunner, 'secure'>;
  transport: FlockTransport;
  /** The manifest key this device trusts (pinned or first seen). */
  trustedPublicKey: string | null;
  /** Stops waiting between phases (the scheduler's stop()). */
  signal?: AbortSignal;
  /** Epoch ms (default Date.now). */
  now?: () => number;
  /** Jitter source for waits (default Math.random). */
  random?: () => number;
}

export interface SecureRoundOutcome {
  summary: SecureTrainingSummary;
  /** Runner time per phase (training; key generation; sharing; DDG encoding plus masking; unmasking), ms. */
  phaseMs: Record<SecureRoundPhase, number>;
}

function aborted(roundId: string, answer: SecAggAborted): SecAggError {
  return new SecAggError(
    'round-aborted',
    `the coordinator aborted secure round ${roundId} (${answer.reason}): ${answer.message}`,
    { reason: answer.reason },
  );
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs one secure-aggregation round for a selected device; resolves once its
 * unmask response was accepted.
 * @throws SecAggError: 'bad-round-config' (refused before anything is sent), 'round-aborted',
 *   'deadline-passed', or the protocol refusals of shared/secagg (e.g. 'both-shares-requested', 'decrypt-failed')
 */
export async function runSecureRound(o: SecureRoundOptions): Promise<SecureRoundOutcome> {
  const now = o.now ?? Date.now;
  const random = o.random ?? Math.random;
  const { roundId } = o.selected;
  const config = await checkSignedRoundConfig({
    selected: o.selected,
    trustedPublicKey: o.trustedPublicKey,
    now: now(),
  });
  const secure = o.runner.secure;
  if (!secure)
    throw new SecAggError(
      'bad-parameters',
      `round ${roundId} uses secure aggregation, which this training runner cannot run; use the SDK's training worker or in-process runner`,
    );
  const key = { roundId, deviceId: o.deviceId };
  const phaseMs: Record<SecureRoundPhase, number> = { train: 0, advertise: 0, share: 0, mask: 0, unmask: 0 };
  const timed = async <T>(phase: SecureRoundPhase, step: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await step();
    } finally {
      phaseMs[phase] += performance.now() - start;
    }
  };
  const accepted = (answer: SecAggAccepted | SecAggAborted): void => {
    if (answer.status === 'aborted') throw aborted(roundId, answer);
  };
  const poll = async <T>(
    route: 'roster' | 'shares' | 'unmask',
    read: (
      transport: FlockTransport,
    ) => Promise<{ status: 'ready'; message: T } | { status: 'waiting'; retryAfterSeconds: number } | SecAggAborted>,
    deadline: string,
  ): Promise<T> => {
    const by = Date.parse(deadline);
    for (;;) {
      o.signal?.throwIfAborted();
      const answer = await read(o.transport);
      if (answer.status === 'ready') return answer.message;
      if (answer.status === 'aborted') throw aborted(roundId, answer);
      const left = by - now();
      if (left <= 0)
        throw new SecAggError(
          'deadline-passed',
          `the coordinator still had no ${route} for round ${roundId} at its deadline ${deadline}; giving the round up`,
          { route, deadline },
        );
      await sleep(Math.min(left, answer.retryAfterSeconds * 1000 * (1 + 0.2 * random())), o.signal);
    }
  };
  const { deadlines } = config;
  try {
    const summary = await timed('train', () => secure.secaggTrain(key, config, o.job));
    const keys = await timed('advertise', () => secure.secaggAdvertise(key));
    accepted(await o.transport.sendSecAggMessage('advertise', roundId, keys));
    const roster = await poll('roster', (t) => t.getSecAggMessage('roster', roundId, RosterSchema), deadlines.shareBy);
    const shares = await timed('share', () => secure.secaggShare(key, roster));
    accepted(await o.transport.sendSecAggMessage('shares', roundId, shares));
    const forwarded = await poll(
      'shares',
      (t) => t.getSecAggMessage('shares', roundId, ForwardedSharesSchema),
      deadlines.maskBy,
    );
    const { header, masked } = await timed('mask', () => secure.secaggMask(key, forwarded));
    accepted(await o.transport.putSecAggMasked(roundId, header, masked));
    const request = await poll(
      'unmask',
      (t) => t.getSecAggMessage('unmask', roundId, UnmaskRequestSchema),
      deadlines.unmaskBy,
    );
    const response = await timed('unmask', () => secure.secaggUnmask(key, request));
    accepted(await o.transport.sendSecAggMessage('unmask', roundId, response));
    return { summary, phaseMs };
  } catch (error) {
    await secure.secaggForget(key).catch(() => {});
    throw error;
  }
}
