import { describe, expect, it } from 'vitest';
import { MODEL_STAGES, STRATEGY_NAMES } from '../shared/protocol/index.ts';
import { buildProgram } from './index.ts';
import { STAGES } from './model-commands.ts';
import { STRATEGIES } from './simulate-command.ts';

// The help texts name these lists without importing the protocol (which would load zod for --help).
describe('lists written out in the help', () => {
  it('simulate --strategy names every strategy the protocol knows', () => {
    expect(STRATEGIES).toBe(STRATEGY_NAMES.join(', '));
    const help = buildProgram()
      .commands.find((c) => c.name() === 'simulate')!
      .helpInformation();
    expect(help.replace(/\s+/g, ' ')).toContain(`server strategy (${STRATEGY_NAMES.join(', ')})`);
  });

  it('model push --stage and model stage --to name every stage', () => {
    expect(STAGES).toBe(MODEL_STAGES.join(', '));
  });
});
