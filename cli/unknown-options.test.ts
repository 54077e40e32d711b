import { describe, expect, it } from 'vitest';
import { buildProgram, main, type CliIo } from './index.ts';
import { unknownOptionError } from './unknown-options.ts';

const silent: CliIo = { out: () => {}, err: () => {} };
const argv = (...rest: string[]) => ['node', 'flock', ...rest];

describe('unknown options', () => {
  it('names a misspelt flag before a missing required one, with the nearest known flag', () => {
    expect(
      unknownOptionError(buildProgram(silent), argv('rollout', 'start', '--app', 'digits', '--canidate', '2')),
    ).toBe("unknown option '--canidate' for 'flock rollout start' (did you mean --candidate?)");
  });

  it('accepts known flags, --flag=value, values that start with a dash, and anything after --', () => {
    const program = buildProgram(silent);
    expect(
      unknownOptionError(
        program,
        argv(
          'privacy',
          'epsilon',
          '--sampling-rate=0.01',
          '--noise-multiplier',
          '1.1',
          '--steps',
          '10',
          '--delta',
          '1e-5',
        ),
      ),
    ).toBeNull();
    expect(unknownOptionError(program, argv('task', 'rounds', 'task_1', '--url', '-weird', '--json'))).toBeNull();
    expect(unknownOptionError(program, argv('task', 'rounds', 'task_1', '--', '--whatever'))).toBeNull();
  });

  it('makes main exit 2 and print the message', async () => {
    let err = '';
    const code = await main(argv('rollout', 'start', '--canidate', '2'), {
      out: () => {},
      err: (t) => {
        err += t;
      },
    });
    expect(code).toBe(2);
    expect(err).toMatch(/^error: unknown option '--canidate' for 'flock rollout start' \(did you mean --candidate\?\)/);
  });
});
