/**
 * Progress of a simulation on stderr: a redrawn bar on a terminal, one plain
 * line per update otherwise (CI logs, `> file`), so logs stay readable.
 */

/** Where progress goes; `isTTY` decides between a bar and plain lines. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Progress {
  /** `done` of `total` steps, with a short status such as "acc 0.912". */
  update(done: number, status: string): void;
  /** Ends the bar (a newline on a terminal). */
  finish(): void;
}

/** Renders `[#####-----] 5/10 status` at most `width` characters wide. */
export function renderBar(done: number, total: number, status: string, width = 80): string {
  const counter = `${done}/${total}`;
  const barWidth = Math.max(10, Math.min(40, width - counter.length - status.length - 5));
  const filled = total > 0 ? Math.round((Math.min(done, total) / total) * barWidth) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${counter} ${status}`.slice(0, width);
}

/**
 * @example
 * const progress = createProgress(process.stderr, 150, 'round');
 * progress.update(1, 'acc 0.873'); progress.finish();
 */
export function createProgress(stream: ProgressStream, total: number, label: string): Progress {
  let drawn = false;
  return {
    update(done, status) {
      if (stream.isTTY) {
        stream.write(`\r\x1b[2K${label} ${renderBar(done, total, status, (stream.columns ?? 80) - label.length - 1)}`);
        drawn = true;
      } else {
        stream.write(`${label} ${done}/${total} ${status}\n`);
      }
    },
    finish() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
