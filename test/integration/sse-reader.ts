/**
 * Reads a server-sent events response in tests: `next(ms)` waits at most
 * `ms` for the next event (null on timeout, keeping the pending read) and
 * `until(ms, done)` collects events until one satisfies `done`.
 */
export interface SseEvent {
  event: string;
  id: string | null;
  data: Record<string, unknown>;
}

/** Reads one SSE response; `next` waits at most `ms` for the next event (null on timeout, keeping the pending read). */
export function sseReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  const parse = (block: string): SseEvent => ({
    event: /^event: ?(.*)$/m.exec(block)?.[1] ?? 'message',
    id: /^id: ?(.*)$/m.exec(block)?.[1] ?? null,
    data: JSON.parse(/^data: ?(.*)$/m.exec(block)?.[1] ?? '{}') as Record<string, unknown>,
  });
  return {
    async next(ms: number): Promise<SseEvent | null> {
      const until = Date.now() + ms;
      for (;;) {
        const cut = buffer.indexOf('\n\n');
        if (cut >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          return parse(block);
        }
        pending ??= reader.read();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>(
          (r) => (timer = setTimeout(() => r('timeout'), Math.max(0, until - Date.now()))),
        );
        const got = await Promise.race([pending, timeout]);
        clearTimeout(timer);
        if (got === 'timeout') return null;
        pending = null;
        if (got.done) throw new Error('the SSE stream ended');
        buffer += decoder.decode(got.value, { stream: true });
      }
    },
    /** Every event until `done` says stop or `ms` pass. */
    async until(ms: number, done: (e: SseEvent) => boolean): Promise<SseEvent[]> {
      const until = Date.now() + ms;
      const seen: SseEvent[] = [];
      for (;;) {
        const e = await this.next(until - Date.now());
        if (!e) return seen;
        seen.push(e);
        if (done(e)) return seen;
      }
    },
    cancel: () => reader.cancel().catch(() => undefined),
  };
}
