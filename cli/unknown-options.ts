/**
 * Names an unknown flag before commander's own checks run. Commander reports
 * a missing required option before an unknown one, so `flock rollout start
 * --canidate 2` would only say "required option '--candidate' not
 * specified"; this finds the misspelt flag first and suggests the nearest
 * known one.
 *
 * @example
 * unknownOptionError(program, ['node', 'flock', 'rollout', 'start', '--canidate', '2'])
 * // "unknown option '--canidate' for 'flock rollout start' (did you mean --candidate?)"
 */
import type { Command } from 'commander';

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The message for the first unknown `--flag` in `argv`, or null when every flag is known. */
export function unknownOptionError(program: Command, argv: readonly string[]): string | null {
  let cmd = program;
  const known = new Map<string, boolean>([
    ['--help', false],
    ['-h', false],
  ]); // flag -> takes a value
  const learn = (c: Command) => {
    for (const o of c.options) {
      const takesValue = o.required || o.optional;
      if (o.long) known.set(o.long, takesValue);
      if (o.short) known.set(o.short, takesValue);
      if (o.negate && o.long) known.set(o.long, false);
    }
  };
  learn(program);
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const token = args[i];
    if (token === '--') return null;
    if (!token.startsWith('-')) {
      const sub = cmd.commands.find((c) => c.name() === token || c.aliases().includes(token));
      if (sub) {
        cmd = sub;
        learn(sub);
      }
      continue;
    }
    const flag = token.includes('=') ? token.slice(0, token.indexOf('=')) : token;
    if (!flag.startsWith('--')) continue; // short clusters are left to commander
    const takesValue = known.get(flag);
    if (takesValue === undefined) {
      const candidates = [...known.keys()].filter((k) => k.startsWith('--'));
      const best = candidates.map((k) => ({ k, d: editDistance(flag, k) })).sort((x, y) => x.d - y.d)[0];
      const hint = best && best.d <= Math.max(2, Math.floor(flag.length / 4)) ? ` (did you mean ${best.k}?)` : '';
      return `unknown option '${flag}' for '${commandPath(cmd)}'${hint}`;
    }
    if (takesValue && !token.includes('=')) i += 1; // its value may itself start with '-'
  }
  return null;
}
