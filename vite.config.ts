/**
 * One Vite config for the whole package: the Vitest test runner now, the demo
 * PWA and the client library build as later issues add them.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{shared,client,coordinator,worker,simulate,demo,test}/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // tfjs and SQLite tests are CPU-heavy; two cores here.
    pool: 'forks',
    maxWorkers: 2,
  },
});
