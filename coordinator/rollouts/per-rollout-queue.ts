/**
 * Runs work on one rollout after the work queued before it on the same
 * rollout, so an evaluation and an operator action in this process never
 * interleave (other processes are held off by the store's guarded updates).
 * A failed task does not block the next one; entries go once they settle.
 */
export class PerRolloutQueue {
  private readonly chains = new Map<string, Promise<unknown>>();

  /**
   * @example
   * await queue.run(rollout.id, () => evaluateRollout(ctx, rollout.id));
   */
  run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.chains.get(id) ?? Promise.resolve()).catch(() => undefined).then(fn);
    this.chains.set(id, next);
    void next
      .finally(() => {
        if (this.chains.get(id) === next) this.chains.delete(id);
      })
      .catch(() => undefined);
    return next;
  }

  /** Resolves once everything queued so far has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.chains.values()]);
  }
}
