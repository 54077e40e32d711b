/**
 * One Vite config for the whole package: the Vitest test runner now, the demo
 * PWA and the client library build as later issues add them.
 */
import { defineConfig } from 'vitest/config';

/**
 * Tests that time the browser's main thread. They run alone, after the rest:
 * on two cores, a CPU-heavy test file in the other worker deschedules
 * Chromium's main thread and a 5 ms task is then reported as an 85 ms "long
 * task" that no code of ours caused (seen in CI).
 */
const TIMED_ALONE = ['test/browser/training.test.ts'];

export default defineConfig({
  test: {
    exclude: ['node_modules/**', 'dist/**'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // tfjs and SQLite tests are CPU-heavy; two cores here.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['{shared,client,coordinator,worker,simulate,cli,demo,scripts,test}/**/*.test.ts'],
          exclude: ['node_modules/**', 'dist/**', ...TIMED_ALONE],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'timed-alone', include: TIMED_ALONE, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
